/** The dashboard page's entry: the Plots, Logs and Events views alone, over the same contract as the app. */
import { mount } from 'svelte';
import Dashboard from './components/dashboard/Dashboard.svelte';
import './styles.css';

export default mount(Dashboard, { target: document.getElementById('app')! });

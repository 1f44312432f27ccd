/** The --profile and --dir every command takes, and what they reach: the running cluster, and its settings with the flags over them. */
import { Client } from '../client/client.js';
import { clusterSettingsPath, readClusterSettings, type ClusterSettings } from '../cluster/profileSettings.js';
import { connectionFilePath } from '../connection/connectionFile.js';
import { resolveSettings, type FlagValues } from './clusterFlags.js';

export const PROFILE_FLAGS = {
  profile: { type: 'string', default: 'default' },
  dir: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ProfileValues {
  profile: string;
  dir?: string;
}

/** A client of the profile's running cluster (an error saying how to start one when there is none). */
export function connectTo(values: ProfileValues): Promise<Client> {
  return Client.connect({ file: connectionFilePath('client', values.profile, values.dir) });
}

/** The profile's cluster.json with the command line's flags over it; a bad file is an error naming it and the field. */
export function settingsFor(values: ProfileValues & FlagValues): { settings: ClusterSettings; file: string } {
  const file = clusterSettingsPath(values.profile, values.dir);
  return { settings: resolveSettings(readClusterSettings(values.profile, values.dir), file, values), file };
}

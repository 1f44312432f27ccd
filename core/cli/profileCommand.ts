/**
 * `multiengine profile`: shows a profile's cluster settings (its cluster.json), or saves the
 * settings given as flags into it (over what it holds), so `multiengine start --profile P` and the
 * app start that cluster with no flags.
 */
import { parseArgs } from 'node:util';
import { writeClusterSettings } from '../cluster/profileSettings.js';
import { CONTROLLER_FLAGS, ENGINE_SET_FLAGS, joinDashValues } from './clusterFlags.js';
import { PROFILE_FLAGS, settingsFor } from './profileOptions.js';

export async function profile(args: string[]): Promise<number> {
  const { values } = parseArgs({ args: joinDashValues(args), options: { ...PROFILE_FLAGS, ...ENGINE_SET_FLAGS, ...CONTROLLER_FLAGS } });
  const saving = Object.keys(values).some((k) => k in ENGINE_SET_FLAGS || k in CONTROLLER_FLAGS);
  const { settings, file } = settingsFor(values);
  if (saving) {
    writeClusterSettings(settings, values.profile, values.dir);
    console.log(`saved ${file}:`);
  } else if (!Object.keys(settings).length) {
    console.log(`profile "${values.profile}" has no cluster settings (${file}): \`multiengine start\` uses its defaults; save some with flags, as \`multiengine profile --profile ${values.profile} -n 8 --launcher mpi\``);
    return 0;
  } else {
    console.log(`${file}:`);
  }
  console.log(JSON.stringify(settings, null, 2));
  return 0;
}

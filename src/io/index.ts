/**
 * `sluice/io`: storage calibration for I/O classes (docs/api.md, "sluice/io"). Separate from the
 * main entry so the runtime never loads it.
 */
export { calibrateIo, formatCalibration } from './calibrate.js';
export type { CalibrateIoOptions, IoCalibration, IoLevel } from './calibrate.js';

/** The pino methods the control plane's agents, the Docker driver and the CNI service log with (a pino Logger fits). */
export interface AgentLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
  debug(object: object, message: string): void;
}

/** A logger that says nothing: the default where none is given. */
export const silentLogger: AgentLogger = { info() {}, warn() {}, error() {}, debug() {} };

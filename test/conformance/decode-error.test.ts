// DecodeError is a verdict on data, made once per broken frame: cheap (no stack trace captured),
// yet a complete Error with code, layer, offset, message and name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, decapsulate, encapsulate, PacketBatch, Decapsulator, createKernels } from '../../src/index';
import { innerFrame, ipv4Tunnel } from '../helpers/frames';

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

test('a DecodeError from decapsulate: instanceof DecodeError and Error, code, layer, offset, message, name', () => {
  const frame = encapsulate(innerFrame(60), ipv4Tunnel());
  const error = caught(() => decapsulate(frame.subarray(0, 40)));
  assert.instance(error, DecodeError);
  assert.instance(error, Error);
  const { code, layer, offset, message, name } = error as DecodeError;
  assert.equal({ code, layer, offset, name }, { code: 'TRUNCATED', layer: 'ipv4', offset: 14, name: 'DecodeError' });
  assert.is(message, 'TRUNCATED: header truncated (ipv4 at byte 14)');
  assert.is(String(error), `DecodeError: ${message}`);
  assert.is(Object.prototype.toString.call(error), '[object Error]', 'a real Error, not an imitation');
});

test('no stack trace is captured (that cost microseconds per frame), and Error.stackTraceLimit is left as it was', () => {
  const limit = Error.stackTraceLimit;
  const error = caught(() => decapsulate(new Uint8Array(20))) as DecodeError;
  assert.is(error.code, 'NOT_IPV4_OR_IPV6');
  assert.is(error.stack, `DecodeError: ${error.message}`);
  assert.is(Error.stackTraceLimit, limit);
  assert.ok(new Error('other errors keep their stack').stack!.includes('\n    at '));
  const made = new DecodeError('BAD_IHL', 'ipv4', 14, 'IHL is 3');
  assert.is(made.message, 'BAD_IHL: IPv4 IHL is below 5 (ipv4 at byte 14): IHL is 3');
  assert.is(made.name, 'DecodeError');
  assert.is(Error.stackTraceLimit, limit);
});

test('PacketBatch.error(): the same DecodeError for a slot', () => {
  const kernels = createKernels('reference');
  const batch = new PacketBatch({ capacity: 1, kernels });
  batch.writeFrame(0, new Uint8Array(20));
  assert.is(new Decapsulator({ kernels }).run(batch, 1), 0);
  const error = batch.error(0)!;
  assert.instance(error, DecodeError);
  assert.equal([error.code, error.layer, error.offset, error.name], ['NOT_IPV4_OR_IPV6', 'ethernet', 12, 'DecodeError']);
});

test.run();

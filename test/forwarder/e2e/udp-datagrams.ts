// A bounded UDP exchange for e2e tests, run in a namespace with `node --import tsx`:
//   {"role":"receive","bind":"10.42.0.1","port":5400,"count":200,"ms":3000}   prints {"received":N,"bytes":B} and exits
//   {"role":"send","to":"10.42.0.1","port":5400,"count":200,"size":1000}     prints {"sent":N} and exits
// The payload is a counter pattern; the receiver counts the datagrams the kernel delivered (one
// whose UDP checksum is wrong never arrives: the kernel drops it).
import { createSocket } from 'node:dgram';

interface Plan {
  role: 'receive' | 'send';
  bind?: string;
  to?: string;
  port: number;
  count: number;
  size?: number;
  ms?: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const family = (plan.bind ?? plan.to ?? '').includes(':') ? 'udp6' : 'udp4';
const socket = createSocket(family);

if (plan.role === 'receive') {
  let received = 0;
  let bytes = 0;
  const finish = () => {
    process.stdout.write(`${JSON.stringify({ received, bytes })}\n`);
    socket.close();
  };
  const timer = setTimeout(finish, plan.ms ?? 3000);
  socket.on('message', (message) => {
    received++;
    bytes += message.length;
    if (received === plan.count) {
      clearTimeout(timer);
      finish();
    }
  });
  socket.bind(plan.port, plan.bind, () => process.stdout.write(`${JSON.stringify({ listening: true })}\n`));
} else {
  const payload = Buffer.alloc(plan.size ?? 1000);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  let sent = 0;
  const next = () => {
    if (sent === plan.count) {
      process.stdout.write(`${JSON.stringify({ sent })}\n`);
      socket.close();
      return;
    }
    sent++;
    // One at a time, a little apart: the point is delivery, not rate.
    socket.send(payload, plan.port, plan.to, () => setTimeout(next, 1));
  };
  next();
}

// Laravel Echo with pusher-js, as a browser page uses them, against the
// daemon: subscribes to the private channel company.{id} (signed by
// POST /broadcasting/auth with the company's bearer token) and prints one
// JSON line per step: {"subscribed": ...}, then each appointment.created
// it receives ({"event": ..., "data": ...}), or {"error": ...}.
//
// Usage: node listen.mjs PORT APP_KEY TOKEN COMPANY_ID, from a directory
// where package.json's modules are installed (an ES module, since
// laravel-echo's CommonJS build does not load under node).

import Pusher from 'pusher-js';
import Echo from 'laravel-echo';

const [port, key, token, company] = process.argv.slice(2);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const echo = new Echo({
  broadcaster: 'pusher',
  Pusher,
  key,
  cluster: '',
  wsHost: '127.0.0.1',
  wsPort: Number(port),
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  authEndpoint: `http://127.0.0.1:${port}/broadcasting/auth`,
  auth: {headers: {Authorization: `Bearer ${token}`}},
});

echo.connector.pusher.connection.bind('error', (e) =>
  print({error: JSON.stringify(e && (e.error || e))}));

echo.private(`company.${company}`)
  .subscribed(() => print({subscribed: `private-company.${company}`}))
  .error((e) => print({error: JSON.stringify(e)}))
  .listen('.appointment.created', (data) =>
    print({event: 'appointment.created', data}));

// The test ends it; never linger.
setTimeout(() => process.exit(0), 60000);

#!/usr/bin/python3
"""An SMTP host for the daemon's email tests (Debian's python3-aiosmtpd).

Listens on 127.0.0.1 (a free port, printed as "listening PORT"). With
--cert and --key it offers STARTTLS and requires it before MAIL; with
--plain it offers no STARTTLS at all and would take AUTH in clear. AUTH
PLAIN and LOGIN are checked against --user and --password, and required.
Each AUTH attempt and each message is appended to --log as one JSON line:
{"event": "auth", "mechanism", "login", "ok", "tls"} and {"event":
"message", "mail_from", "rcpt_tos", "data", "tls", "login"}.
"""

import argparse
import asyncio
import json
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    def record(entry):
        with open(args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == args.user.encode()
            and auth_data.password == args.password.encode()
        )
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else ""
        record({"event": "auth", "mechanism": mechanism, "login": login,
                "ok": ok, "tls": session.ssl is not None})
        # handled=False: aiosmtpd answers 535 itself when ok is false.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            login = ""
            if isinstance(session.auth_data, LoginPassword):
                login = session.auth_data.login.decode()
            record({"event": "message", "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf-8", "replace"),
                    "tls": session.ssl is not None, "login": login})
            return "250 Message accepted for delivery"

    kwargs = dict(authenticator=authenticator, auth_required=True,
                  hostname="smtp.test")
    if args.plain:
        kwargs.update(auth_require_tls=False)
    else:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        kwargs.update(tls_context=context, require_starttls=True,
                      auth_require_tls=True)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(Handler(), **kwargs), "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()

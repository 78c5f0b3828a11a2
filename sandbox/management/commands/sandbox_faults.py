"""Run the fault proxy in front of the sandbox AWS, or change the rules of a running one.

    python manage.py sandbox_faults serve --upstream http://127.0.0.1:5055 --port 5056
    python manage.py sandbox_faults set --proxy http://127.0.0.1:5056 --service stepfunctions --fault throttle --rate 1
    python manage.py sandbox_faults show --proxy http://127.0.0.1:5056
    python manage.py sandbox_faults clear --proxy http://127.0.0.1:5056

Point an environment's AWS endpoint at the proxy to see the control plane under faults.
"""

import json
import signal
import threading
import urllib.error

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox import faults


class Command(BaseCommand):
    help = "Run the sandbox fault proxy (throttling, 5xx, timeouts, latency per service) or switch its faults."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        serve = sub.add_parser("serve", help="run the proxy in the foreground")
        serve.add_argument("--upstream", default=settings.SANDBOX_AWS_ENDPOINT, help="the sandbox AWS (moto) URL")
        serve.add_argument("--port", type=int, default=5056)
        serve.add_argument("--rules", help="a JSON file with {'rules': [...]} to start with")
        for name in ("set", "add", "show", "clear"):
            p = sub.add_parser(name)
            p.add_argument("--proxy", default="http://127.0.0.1:5056", help="the running proxy's URL")
            if name in ("set", "add"):
                p.add_argument("--service", required=True, help="stepfunctions, sqs, dynamodb, ... or *")
                p.add_argument("--operation", default="", help="one operation only, e.g. SendTaskSuccess")
                p.add_argument("--fault", required=True, choices=faults.FAULTS)
                p.add_argument("--rate", type=float, default=1.0, help="share of the calls, 0 to 1")
                p.add_argument("--seconds", type=float, default=30.0, help="delay of latency / timeout")
                p.add_argument("--count", type=int, default=None, help="fire at most this many times")
                p.add_argument("--code", default="", help="error code instead of the service's usual one")

    def handle(self, *args, action, **options):
        if action == "serve":
            return self._serve(**options)
        proxy = options["proxy"].rstrip("/")
        try:
            if action == "show":
                result = faults.faults_show(proxy)
            elif action == "clear":
                result = faults.faults_clear(proxy)
            else:
                rule = {k: options[k] for k in ("service", "operation", "fault", "rate", "seconds", "count", "code")}
                rules = faults.faults_show(proxy)["rules"] if action == "add" else []
                result = faults.faults_set(proxy, *rules, rule)
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"the fault proxy at {proxy} did not answer: {exc}") from exc
        self.stdout.write(json.dumps(result, indent=2))

    def _serve(self, *, upstream, port, rules, **_):
        proxy = faults.FaultProxy(upstream=upstream, port=port)
        if rules:
            with open(rules) as f:
                try:
                    proxy.state.set_rules(json.load(f).get("rules", []))
                except (ValueError, TypeError) as exc:
                    raise CommandError(f"{rules}: {exc}") from exc
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=proxy.stop).start())
        self.stdout.write(f"Fault proxy on {proxy.url} in front of {upstream}; rules at {proxy.url}/_faults")
        try:
            proxy.serve_forever()
        except KeyboardInterrupt:
            pass
        self.stdout.write("Fault proxy stopped.")

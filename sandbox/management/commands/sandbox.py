import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.processes import SandboxError, SandboxProcesses


class Command(BaseCommand):
    help = "Run the sandbox AWS (moto server, both regions) and the local OpenID Connect IdP on 127.0.0.1."

    def add_arguments(self, parser):
        port = int(settings.SANDBOX_AWS_ENDPOINT.rsplit(":", 1)[-1].strip("/"))
        parser.add_argument("--aws-port", type=int, default=port)
        parser.add_argument("--idp-port", type=int, default=settings.SANDBOX_IDP_PORT)

    def handle(self, *args, aws_port, idp_port, **options):
        procs = SandboxProcesses(aws_port=aws_port, idp_port=idp_port, log_dir=settings.VAR_DIR / "logs")
        try:
            procs.start()
        except SandboxError as exc:
            procs.stop()
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Sandbox AWS ready: {procs.aws_endpoint} (moto; Step Functions executes)")
        self.stdout.write(
            f"IdP ready: issuer={procs.idp_issuer} discovery={procs.idp_issuer}/.well-known/openid-configuration "
            f"client_id={settings.SSO_CLIENT_ID}"
        )
        self.stdout.write(f"Logs in {settings.VAR_DIR / 'logs'}. Ctrl-C stops both.")
        stopping = False

        def _stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stopping:
                if not procs.alive():
                    raise CommandError("a sandbox process exited; see the logs")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            procs.stop()
            self.stdout.write("Sandbox stopped.")

"""``manage.py provision ENVIRONMENT``: deploy every stack in bootstrap order, printing each
stack's outcome; exits non-zero on the first failure. Change sets are executed without a
person confirming them (the CLI is the confirmation)."""

import getpass
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.origin import system_origin
from controlplane.aws import AwsError, route53
from migrations_app import deployments, services
from migrations_app.errors import CutoverError
from migrations_app.models import Deployment, Environment, StackDeployment


class Command(BaseCommand):
    help = "Deploy an environment's stacks with CloudFormation change sets, in bootstrap order, across both regions."

    def add_arguments(self, parser):
        parser.add_argument("environment", help="environment name")
        parser.add_argument(
            "--create-sandbox", action="store_true", help="create the environment first, pointing at the sandbox AWS"
        )
        parser.add_argument("--stacks", default="", help="comma-separated stack keys (default: all, in order)")
        parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the whole deployment")

    def handle(self, *args, environment, create_sandbox, stacks, timeout, **options):
        with system_origin(f"cli:{getpass.getuser()}:provision"):
            env = Environment.objects.filter(name=environment).first()
            if env is None:
                if not create_sandbox:
                    raise CommandError(f"no environment named {environment!r}; use --create-sandbox to make one")
                env = self._create_sandbox(environment)
            elif create_sandbox and env.kind == Environment.Kind.SANDBOX:
                # A restarted sandbox AWS has lost the account's hosted zone: make it again.
                route53.hosted_zone_ensure(target=env.aws_target(), name=env.hosted_zone_name)
            try:
                deployment = deployments.deployment_start(
                    environment=env,
                    actor=None,
                    stack_keys=[s.strip() for s in stacks.split(",") if s.strip()] or None,
                    auto_confirm=True,
                    enqueue=False,
                )
            except CutoverError as exc:
                raise CommandError(str(exc)) from exc
            deployment = self._drive(deployment, timeout)
        if deployment.status != Deployment.Status.SUCCEEDED:
            raise CommandError(f"deployment {deployment.pk} failed: {deployment.error}")
        env.refresh_from_db()
        self.stdout.write(self.style.SUCCESS(f"provisioned {env.name}: state machine {env.state_machine_arn}"))

    def _create_sandbox(self, name: str) -> Environment:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("the sandbox is switched off (SANDBOX_ENABLED=false)")
        env = services.environment_create(
            actor=None,
            name=name,
            kind=Environment.Kind.SANDBOX,
            aws_endpoint_url=settings.SANDBOX_AWS_ENDPOINT,
            hosted_zone_name="cutover.example.com",
            record_name="api.cutover.example.com",
            create_hosted_zone=True,
        )
        self.stdout.write(f"created environment {env.name} -> {env.aws_endpoint_url}")
        return env

    def _drive(self, deployment: Deployment, timeout: float) -> Deployment:
        deadline = time.monotonic() + timeout
        reported: set[int] = set()
        while True:
            try:
                result = deployments.deployment_advance(deployment_id=deployment.pk)
            except AwsError as exc:  # transient: wait and try again, as the Celery task would
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"deployment {deployment.pk}: AWS still not answering after {timeout:.0f}s"
                    ) from exc
                self.stderr.write(f"  AWS is not answering ({exc.code}); retrying")
                time.sleep(2)
                continue
            deployment = result.deployment
            for stack in deployment.stacks.all():
                if stack.pk in reported or stack.status not in (*StackDeployment.DONE, StackDeployment.Status.FAILED):
                    continue
                reported.add(stack.pk)
                changes = f", {len(stack.changes)} change(s)" if stack.changes else ""
                line = f"  {stack.stack_name:<32} {stack.region:<14} {stack.get_status_display()}{changes}"
                if stack.status == StackDeployment.Status.FAILED:
                    self.stdout.write(self.style.ERROR(line + f": {stack.status_reason}"))
                else:
                    self.stdout.write(line)
            if not deployment.is_active:
                return deployment
            if time.monotonic() > deadline:
                raise CommandError(f"deployment {deployment.pk} still running after {timeout:.0f}s")
            if result.stack is None or result.stack.status not in (StackDeployment.Status.PENDING,):
                time.sleep(0.3 if deployment.environment.kind == Environment.Kind.SANDBOX else 5)

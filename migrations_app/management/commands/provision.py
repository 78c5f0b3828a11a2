import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.origin import system_origin
from controlplane.aws import AwsError
from migrations_app import services
from migrations_app.models import Environment
from migrations_app.statemachine import PlanStep


def parse_steps(raw: str) -> list[PlanStep]:
    try:
        weights = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise CommandError(f"--steps {raw!r}: give EU weights in percent, e.g. 10,25,50,90,100") from None
    if not weights or any(not 0 <= w <= 100 for w in weights):
        raise CommandError(f"--steps {raw!r}: each weight must be between 0 and 100")
    return [PlanStep(target_weight=w) for w in weights]


class Command(BaseCommand):
    help = "Provision an environment's cutover stack (gate queue, weighted records, state machine)."

    def add_arguments(self, parser):
        parser.add_argument("environment", help="environment name")
        parser.add_argument(
            "--create-sandbox", action="store_true", help="create the environment first, pointing at the sandbox AWS"
        )
        parser.add_argument("--steps", default="10", help="EU weight of each step, in percent (default: 10)")

    def handle(self, *args, environment, create_sandbox, steps, **options):
        plan = parse_steps(steps)
        with system_origin(f"cli:{getpass.getuser()}:provision"):
            env = Environment.objects.filter(name=environment).first()
            if env is None:
                if not create_sandbox:
                    raise CommandError(f"no environment named {environment!r}; use --create-sandbox to make one")
                env = services.environment_create(
                    actor=None,
                    name=environment,
                    kind=Environment.Kind.SANDBOX,
                    aws_endpoint_url=settings.SANDBOX_AWS_ENDPOINT,
                    hosted_zone_name="cutover.example.com",
                    record_name="api.cutover.example.com",
                    source_endpoint="api.us-east-1.cutover.example.com",
                    target_endpoint="api.eu-central-1.cutover.example.com",
                )
                self.stdout.write(f"created environment {env.name} -> {env.aws_endpoint_url}")
            try:
                env = services.environment_provision_minimal(environment=env, actor=None, steps=plan)
            except AwsError as exc:
                raise CommandError(f"provisioning {env.name} failed: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"provisioned {env.name}: state machine {env.state_machine_arn}"))
        self.stdout.write(f"  gate queue {env.gate_queue_url}")
        self.stdout.write(f"  weighted records {env.record_name} in zone {env.hosted_zone_id}")

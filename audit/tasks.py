from celery import shared_task

from audit.reports import report_pack_build


@shared_task(acks_late=True)
def report_pack_build_task(pack_id: int) -> str:
    """Build one report pack; a duplicate delivery finds it claimed or done and returns."""
    return report_pack_build(pack_id=pack_id).status

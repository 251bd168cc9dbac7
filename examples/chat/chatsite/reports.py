"""The background channel ``reports.render``, served by its own pool (``runworker --only-channels=reports.*``).

It stands for any slow job a web request should not wait for (PDFs, thumbnails, exports): the page
asks over its socket, a worker of the main pool queues the job and answers at once, a worker of the
reports pool renders it and tells the user's sockets through their group.
"""

import os
import time
from collections import Counter

from channels.generic.websockets import WebsocketMultiplexer

from .models import ChatMessage, Note, Report

#: Seconds a render pretends to work, so the page visibly waits for it.
RENDER_SECONDS = float(os.environ.get("CHAT_REPORT_SECONDS", "0.5"))


def render_report(message):
    report = Report.objects.filter(pk=message.content.get("report")).first()
    if report is None or report.status == Report.DONE:
        return  # deleted meanwhile, or a redelivery of a job already done
    time.sleep(RENDER_SECONDS)
    speakers = Counter(ChatMessage.objects.filter(room=report.room).values_list("author__username", flat=True))
    notes = Note.objects.filter(room=report.room).count()
    lines = [f"Room {report.room}: {sum(speakers.values())} messages, {notes} notes."]
    lines += [f"{name}: {count} messages" for name, count in speakers.most_common()]
    report.body = "\n".join(lines)
    report.status = Report.DONE
    report.rendered_by = os.getpid()
    report.save()
    WebsocketMultiplexer.group_send(
        f"user-{report.owner_id}",
        "reports",
        {
            "report": report.pk,
            "status": report.status,
            "room": report.room,
            "summary": lines[0],
            "rendered_by": report.rendered_by,
            "url": f"/reports/{report.pk}/",
        },
    )

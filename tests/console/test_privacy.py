"""Personal data never leaves where it belongs: a claim carries a planted fake name and ID
number (in its hospital detail, its documents, a reviewer's reason and an objection) and a
distinctive member id; every page and action is driven as every role, and every answer and
every log line is searched. Staff see the claim in full (so the search can find them);
the public, another member and the logs never do."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from mutualaid.access import ConsoleRole
from mutualaid.claim import ClaimState
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.claim_report import claim_id_for
from tests.console.site import ROLES, Site
from tests.workflows.claim_support import status_of, wait_until

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(120)]

NAME = "Zhuge Kongming Qx7"
ID_NUMBER = "11010119900307732X"
HOSPITAL = f"Ruijin Hospital, ward 8, bed 12, patient {NAME} {ID_NUMBER}"

PAGES = [
    "/",
    "/publicity",
    "/api/publicity",
    "/me",
    "/api/me",
    "/claims",
    "/api/claims",
    "/periods",
    "/api/periods",
    "/metrics",
]


async def test_personal_data_stays_with_staff_and_out_of_logs(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = site.world
    async with world.worker():
        applicant = await world.member(age=41)
        diagnosed = await world.today() - timedelta(days=10)
        # A claim id as intake makes it: it holds the claimant's member id and diagnosis day.
        claim_id = claim_id_for("chronic", applicant, "malignant tumour", diagnosed)
        handle = await world.report(
            applicant,
            claim_id=claim_id,
            diagnosed=diagnosed,
            hospital=HOSPITAL,
            documents=(
                Document(kind=DocumentKind.DIAGNOSIS, reference=f"diagnosis {NAME}.pdf"),
                Document(kind=DocumentKind.MEDICAL_RECORD, reference="records.pdf"),
                Document(kind=DocumentKind.IDENTITY, reference=f"id {ID_NUMBER}.jpg"),
            ),
        )
        await wait_until(handle, lambda s: s.state is ClaimState.IN_REVIEW)
        reviewer = site.http(ConsoleRole.REVIEWER)
        await reviewer.post(
            f"/api/claims/{claim_id}/review",
            data={"outcome": "pass", "reason": f"spoke to {NAME}, ID {ID_NUMBER}"},
        )
        investigator = site.http(ConsoleRole.INVESTIGATOR)
        await investigator.post(
            f"/api/claims/{claim_id}/investigation",
            data={
                "summary": f"{NAME} confirmed",
                "diagnosis_confirmed": "yes",
                "declaration_consistent": "yes",
            },
        )
        await reviewer.post(f"/api/claims/{claim_id}/decision", data={"approve": "yes"})
        period_id = await world.publicise(handle)
        status = await status_of(handle)
        site.list_publicly(
            period_id,
            claim_id,
            member_id=applicant,
            hospital=HOSPITAL,
            birth=status.program_now.date().replace(year=1985),
            diagnosed=status.program_now.date(),
            benefit_fen=status.benefit_fen or 0,
            share_fen=250,
        )
        case = (await site.http().get("/api/publicity")).json()["lists"][0]["cases"][0]["case"]
        objected = await site.http(ConsoleRole.MEMBER).post(
            f"/api/publicity/{case}/objection", data={"reason": f"{NAME} was ill before"}
        )
        assert objected.status_code == 200, objected.text

        answers: dict[str, list[str]] = {}
        pages = [*PAGES, f"/claims/{claim_id}", f"/api/claims/{claim_id}"]
        # Pages asked for by the claim's id echo at most that id (in a sign-in link): what
        # the asker typed is not disclosed to them; everything else is searched there too.
        by_id = {n for n, page in enumerate(pages) if claim_id in page}
        for role in ROLES:
            web = site.http(role)
            answers[role.value] = [(await web.get(page)).text for page in pages]
        other = site.http(token=site.other_member_token)
        answers["another member"] = [(await other.get(page)).text for page in pages]
        # A public objection and a public review attempt: refused, and they echo nothing.
        public = site.http()
        answers["public"] += [
            (await public.post(f"/publicity/{case}/objection", data={"reason": NAME})).text,
            (await public.post(f"/api/claims/{claim_id}/review", data={"outcome": "pass"})).text,
        ]

    secrets = (NAME, ID_NUMBER, str(applicant), claim_id, "ward 8", "bed 12")
    # Staff see the claim in full: what the search looks for is really in the system.
    staff_text = "".join(answers["reviewer"])
    assert all(secret in staff_text for secret in secrets), "nothing planted reached staff"
    for who in ("public", "another member"):
        for n, text in enumerate(answers[who]):
            echoed = (claim_id, str(applicant)) if n in by_id else ()
            for secret in secrets:
                if secret not in echoed:
                    assert secret not in text, f"{secret!r} shown to {who} ({n})"
    # The public list shows the case, masked.
    assert "Ruijin Hospital" in "".join(answers["public"])
    # The console's logs (its access log included) and the program's: no personal data, and
    # no claim id (it names the claimant). The test's own HTTP client logs its URLs: not ours.
    ours = [r for r in caplog.records if r.name.startswith(("mutualaid", "uvicorn"))]
    assert any(r.name == "mutualaid.console.access" for r in ours)
    for record in ours:
        line = record.getMessage()
        for secret in (NAME, ID_NUMBER, "ward 8", claim_id):
            assert secret not in line, f"{secret!r} logged by {record.name}: {line[:200]}"
    for record in caplog.records:
        line = record.getMessage()
        for secret in (NAME, ID_NUMBER, "ward 8"):
            assert secret not in line, f"{secret!r} logged by {record.name}: {line[:200]}"

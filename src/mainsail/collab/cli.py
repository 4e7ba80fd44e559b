"""``mainsail comments|reviews|inbox|activity``: talk about objects, review them, follow what happens."""

from __future__ import annotations

import typer
from rich.table import Table

from mainsail.cli.common import client, console, handle_errors, print_json

KIND = "Object kind: run, model, model_version, dataset, dataset_version, pipeline, deployment, alert."
REF = "The object: a name, an id, MODEL/VERSION for a model version, DATASET@VERSION for a dataset version."

comments_app = typer.Typer(help="Comments (markdown, @mentions) on runs, models, datasets, pipelines, deployments, "
                                "alerts.", no_args_is_help=True)
reviews_app = typer.Typer(help="Review requests, approvals and the project's approval policy.", no_args_is_help=True)
inbox_app = typer.Typer(help="Your notifications: mentions, reviews, stage changes, alerts on what you watch.",
                        invoke_without_command=True)
activity_app = typer.Typer(help="Who did what, when: per project, object or user; watch and unwatch objects.",
                           invoke_without_command=True)


def _when(t: object) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if hasattr(t, "strftime") else str(t)


# ---------------------------------------------------------------- comments

@comments_app.command("add")
@handle_errors
def comments_add(kind: str = typer.Argument(..., help=KIND), ref: str = typer.Argument(..., help=REF),
                 text: str = typer.Argument(..., help="Markdown; @name mentions a user."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Comment on an object."""
    c = client().add_comment(kind, ref, text)
    if as_json:
        print_json(c)
        return
    mentions = f" (mentioned {', '.join(c.mentions)})" if c.mentions else ""
    console.print(f"comment {c.id} on {c.object.label}{mentions}")


@comments_app.command("list")
@handle_errors
def comments_list(kind: str = typer.Argument(..., help=KIND), ref: str = typer.Argument(..., help=REF),
                  limit: int = typer.Option(100, help="At most this many."),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """An object's comments, oldest first."""
    page = client().list_comments(kind, ref, limit=limit)
    if as_json:
        print_json(page.items)
        return
    if not page.items:
        console.print("no comments")
    for c in page.items:
        console.print(f"[bold]#{c.id}[/] {c.author} · {_when(c.created_at)}{' (edited)' if c.edited else ''}")
        console.print(f"  {c.text}", markup=False, highlight=False)


@comments_app.command("edit")
@handle_errors
def comments_edit(comment_id: int = typer.Argument(..., help="The comment's id."),
                  text: str = typer.Argument(..., help="The new text.")) -> None:
    """Change your comment's text (admins: anyone's)."""
    c = client().edit_comment(comment_id, text)
    console.print(f"comment {c.id} edited")


@comments_app.command("delete")
@handle_errors
def comments_delete(comment_id: int = typer.Argument(..., help="The comment's id.")) -> None:
    """Delete your comment (admins: anyone's)."""
    client().delete_comment(comment_id)
    console.print(f"comment {comment_id} deleted")


# ---------------------------------------------------------------- reviews

def _print_review(r: object) -> None:
    console.print(f"review {r.id} of {r.object.label}: [bold]{r.status}[/] "  # type: ignore[attr-defined]
                  f"(reviewers {', '.join(r.reviewers)}; approved by {', '.join(r.approved_by) or 'nobody'})")  # type: ignore[attr-defined]


@reviews_app.command("request")
@handle_errors
def reviews_request(kind: str = typer.Argument(..., help="model_version, dataset_version or pipeline."),
                    ref: str = typer.Argument(..., help=REF),
                    reviewer: list[str] = typer.Option(..., "--reviewer", "-r", help="A reviewer (repeat)."),
                    comment: str | None = typer.Option(None, "--comment", "-m", help="What to look at."),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Ask named users to review an object."""
    r = client().request_review(kind, ref, reviewer, comment)
    print_json(r) if as_json else _print_review(r)


@reviews_app.command("approve")
@handle_errors
def reviews_approve(review_id: int = typer.Argument(..., help="The review's id."),
                    comment: str | None = typer.Option(None, "--comment", "-m", help="Why.")) -> None:
    """Approve, as one of the review's reviewers."""
    _print_review(client().approve_review(review_id, comment))


@reviews_app.command("request-changes")
@handle_errors
def reviews_changes(review_id: int = typer.Argument(..., help="The review's id."),
                    comment: str = typer.Option(..., "--comment", "-m", help="What to change.")) -> None:
    """Request changes, as one of the review's reviewers."""
    _print_review(client().request_changes(review_id, comment))


@reviews_app.command("list")
@handle_errors
def reviews_list(kind: str | None = typer.Argument(None, help="Only reviews of this kind (with REF: one object)."),
                 ref: str | None = typer.Argument(None, help=REF),
                 reviewer: str | None = typer.Option(None, "--reviewer", help="Only reviews asked of this user."),
                 status: str | None = typer.Option(None, "--status", help="pending, approved, changes_requested, "
                                                                          "closed."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Review requests, newest first."""
    page = client().list_reviews(kind, ref, reviewer=reviewer, status=status)
    if as_json:
        print_json(page.items)
        return
    table = Table("id", "object", "status", "requested by", "reviewers", "approved by", "changes by")
    for r in page.items:
        table.add_row(str(r.id), r.object.label, r.status, r.requested_by, ", ".join(r.reviewers),
                      ", ".join(r.approved_by), ", ".join(r.changes_requested_by))
    console.print(table)


@reviews_app.command("status")
@handle_errors
def reviews_status(kind: str = typer.Argument(..., help="model_version, dataset_version or pipeline."),
                   ref: str = typer.Argument(..., help=REF)) -> None:
    """Where an object stands against the project's approval policy."""
    a = client().get_approvals(kind, ref)
    console.print(f"{a.object.label}: {len(a.counted)}/{a.required} approvals"
                  f"{' (satisfied)' if a.satisfied else f', {a.missing} missing'}"
                  f"{'; not counted: ' + ', '.join(a.not_counted) if a.not_counted else ''}"
                  f"{'; changes requested by ' + ', '.join(a.changes_requested_by) if a.changes_requested_by else ''}")


@reviews_app.command("policy")
@handle_errors
def reviews_policy(required: int | None = typer.Option(None, "--required", help="Approvals needed (admins set)."),
                   count_author: bool = typer.Option(False, "--count-author",
                                                     help="The version's author's own approval counts."),
                   protect: list[str] = typer.Option([], "--protect", help="A protected alias (repeat).")) -> None:
    """Show the project's approval policy, or set it with --required."""
    c = client()
    p = c.get_review_policy() if required is None else c.set_review_policy(
        required, count_author=count_author, protected_aliases=protect)
    console.print(f"project {p.project}: {p.required_approvals} approvals before production"
                  f"{' or aliases ' + ', '.join(p.protected_aliases) if p.protected_aliases else ''}; "
                  f"author's approval {'counts' if p.count_author else 'does not count'}")


# ---------------------------------------------------------------- inbox

@inbox_app.callback()
@handle_errors
def inbox_list(ctx: typer.Context, unread: bool = typer.Option(False, "--unread", help="Only unread ones."),
               limit: int = typer.Option(50, help="At most this many."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Your notifications, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    page = client().inbox(unread=unread, limit=limit)
    if as_json:
        print_json(page.items)
        return
    if not page.items:
        console.print("inbox empty" if not unread else "no unread notifications")
    for n in page.items:
        mark = "[bold]•[/]" if not n.read else " "
        console.print(f"{mark} {n.id:>5}  {_when(n.created_at)}  {n.kind:<14} {n.title}", highlight=False)


@inbox_app.command("read")
@handle_errors
def inbox_read(ids: list[int] = typer.Argument(None, help="Notification ids (none: all)."),
               ) -> None:
    """Mark notifications read (all of them without ids)."""
    res = client().mark_read(ids or [], all=not ids)
    console.print(f"{res.marked} marked read, {res.unread} unread")


@inbox_app.command("notify-via")
@handle_errors
def inbox_prefs(channel: list[str] = typer.Argument(None, help="Alert channels (none: inbox only)."),
                kind: list[str] = typer.Option(None, "--kind", help="Only these kinds (repeat).")) -> None:
    """Also send your notifications to alert channels (email, Slack, webhook)."""
    p = client().set_notification_preferences(channel or [], kind or None)
    console.print(f"{p.user}: {', '.join(p.channels) or 'inbox only'}"
                  f"{' for ' + ', '.join(p.kinds) if p.kinds else ''}")


# ---------------------------------------------------------------- activity

@activity_app.callback()
@handle_errors
def activity_list(ctx: typer.Context, kind: str | None = typer.Option(None, "--kind", help=KIND),
                  ref: str | None = typer.Option(None, "--ref", help=REF),
                  user: str | None = typer.Option(None, "--user", help="Only what this user did."),
                  type: str | None = typer.Option(None, "--type", help="An event type, or a prefix: 'stage.*'."),
                  limit: int = typer.Option(50, help="At most this many."),
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The project's activity, newest first (one object's with --kind and --ref)."""
    if ctx.invoked_subcommand is not None:
        return
    page = client().activity(kind, ref, user=user, type=type, limit=limit)
    if as_json:
        print_json(page.items)
        return
    if not page.items:
        console.print("no activity")
    for a in page.items:
        console.print(f"{_when(a.created_at)}  {a.summary}", highlight=False, markup=False)


@activity_app.command("watch")
@handle_errors
def activity_watch(kind: str = typer.Argument(..., help=KIND + " Or project (NAME)."),
                   ref: str = typer.Argument(..., help=REF)) -> None:
    """Watch an object: its stage changes, alerts and comments come to your inbox."""
    w = client().watch(kind, ref)
    console.print(f"watching {w.object.label}")


@activity_app.command("unwatch")
@handle_errors
def activity_unwatch(kind: str = typer.Argument(..., help=KIND), ref: str = typer.Argument(..., help=REF)) -> None:
    """Stop watching an object."""
    client().unwatch(kind, ref)
    console.print(f"no longer watching {kind} {ref}")


@activity_app.command("watches")
@handle_errors
def activity_watches() -> None:
    """What you watch."""
    watches = client().list_watches()
    if not watches:
        console.print("watching nothing")
    for w in watches:
        console.print(f"{w.object.kind:<16} {w.object.label}", highlight=False)

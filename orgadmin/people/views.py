"""The people pages: a customer organization's users, invite, roles, remove, and a new API key.
Each is handed the organization's people, read fresh (`with_people`); its status follows the
policy in `orgadmin.web`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.organizations.queries import organization_get
from orgadmin.people import queries, services
from orgadmin.people.forms import ApiKeyForm, UserInviteForm, UserRemoveForm, UserRolesForm
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import Organization
from orgadmin.polytomic.people import Role, User
from orgadmin.web import HtmxHttpRequest, form_status, htmx_redirect, upstream_error_page


@dataclass(frozen=True)
class People:
    """An organization, read fresh, with its users, its roles by id, and one of its users."""

    organization: Organization
    users: list[User]
    roles: dict[str, Role]
    user: User | None = None
    # Why the roles could not be read, on the one page that shows the users without them (the list).
    roles_error: PolytomicError | AuditUnavailable | None = None

    def role_names(self, user: User) -> list[str]:
        return [self.roles[role_id].name if role_id in self.roles else role_id for role_id in user.role_ids]


def with_people(view: Callable[..., HttpResponse] | None = None, *, roles_optional: bool = False) -> Any:
    """The view, handed the organization's people read fresh (and the user its address names);
    or, instead of it, the page that says the organization is gone, that Polytomic failed, or
    that the user is no longer in the organization. With `roles_optional` (the list, which can
    show users without their roles' names), roles that cannot be read are said on the page
    (`People.roles_error`) instead of failing it."""
    if view is None:
        return lambda view: with_people(view, roles_optional=roles_optional)

    @wraps(view)
    def read_first(request: HtmxHttpRequest, organization_id: UUID, **kwargs: Any) -> HttpResponse:
        context = AuditContext.from_request(request)
        roles_error = None
        try:
            organization = organization_get(context=context, organization_id=organization_id)
            users = queries.organization_users(context=context, organization_id=organization_id)
            try:
                roles = queries.roles_by_id(context=context, organization_id=organization_id)
            except (PolytomicError, AuditUnavailable) as exc:
                if not roles_optional or isinstance(exc, PolytomicNotFound):
                    raise
                roles, roles_error = {}, exc
        except PolytomicNotFound:
            messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
            return htmx_redirect(request, reverse("orgadmin:organization-list"))
        except (PolytomicError, AuditUnavailable) as exc:
            return upstream_error_page(request, exc, title="Users")
        user_id = kwargs.get("user_id")
        user = next((u for u in users if u.id == str(user_id)), None)
        if user_id is not None and user is None:
            messages.info(request, "That user is no longer in this organization.")
            return htmx_redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
        people = People(organization, users, roles, user, roles_error=roles_error)
        return view(request, people, organization_id=organization_id, **kwargs)

    return read_first


@require_GET
@permission_required("orgadmin.view_users", raise_exception=True)
@never_cache
@with_people(roles_optional=True)
def user_list(request: HtmxHttpRequest, people: People, organization_id: UUID) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    shown = [user for user in people.users if query.casefold() in f"{user.email} {user.id}".casefold()]
    rows = [(user, people.role_names(user)) for user in sorted(shown, key=lambda u: u.email)]
    return render(request, "orgadmin/user_list.html", {"people": people, "rows": rows, "query": query})


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.manage_users", raise_exception=True)
@never_cache
@with_people
def user_invite(request: HtmxHttpRequest, people: People, organization_id: UUID) -> HttpResponse:
    form = UserInviteForm(request.POST if request.method == "POST" else None, roles=people.roles)
    invites = None
    if request.method == "POST" and form.is_valid():
        invites = services.users_invite(
            context=AuditContext.from_request(request),
            organization_id=organization_id,
            lines=form.cleaned_data["email"],
            role_ids=form.cleaned_data["role_ids"],
            form_key=form.cleaned_data["form_key"],
            members=[user.email for user in people.users],
        )
        if not invites.kept:
            emails = ", ".join(line.text.lower() for line in invites.invited)
            messages.success(request, f"Invited {emails}: Polytomic sends each an invitation email.")
            return htmx_redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
        form.keep_lines(
            [line.text for line in invites.kept],
            [f"“{line.text}”: {line.reason}" for line in invites.kept if not line.unknown],
        )
        if invites.stopped_by is not None:
            form.add_error(None, invites.stopped_by.message)
    return render(
        request,
        "orgadmin/user_form.html",
        {"people": people, "form": form, "inviting": True, "invites": invites},
        status=form_status(form, invites.stopped_by if invites else None),
    )


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.manage_users", raise_exception=True)
@never_cache
@with_people
def user_roles(request: HtmxHttpRequest, people: People, organization_id: UUID, user_id: UUID) -> HttpResponse:
    form = UserRolesForm(request.POST if request.method == "POST" else None, roles=people.roles, user=people.user)
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.user_update_roles(
                context=AuditContext.from_request(request),
                organization_id=organization_id,
                user_id=user_id,
                email=people.user.email,
                role_ids=data["role_ids"],
                form_key=data["form_key"],
            )
        except (PolytomicError, AuditUnavailable) as exc:
            form.add_upstream_error(error := exc)
        else:
            messages.success(request, f"Changed the roles of {people.user.email}.")
            return htmx_redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
    return render(request, "orgadmin/user_form.html", {"people": people, "form": form}, status=form_status(form, error))


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.manage_users", raise_exception=True)
@never_cache
@with_people
def user_remove(request: HtmxHttpRequest, people: People, organization_id: UUID, user_id: UUID) -> HttpResponse:
    form = UserRemoveForm(request.POST if request.method == "POST" else None, user=people.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_remove(
                context=AuditContext.from_request(request), organization_id=organization_id, user_id=user_id
            )
        except PolytomicNotFound:
            messages.info(request, f"{people.user.email} was already removed.")
        except (PolytomicError, AuditUnavailable) as exc:
            form.add_error(None, exc.message)
            return render(
                request, "orgadmin/user_remove.html", {"people": people, "form": form}, status=form_status(form, exc)
            )
        else:
            messages.success(request, f"Removed {people.user.email} from {people.organization.name}.")
        return htmx_redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
    return render(request, "orgadmin/user_remove.html", {"people": people, "form": form}, status=form_status(form))


# A minted key lives in this view's variables alone: error reports show none of them.
@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.create_api_key", raise_exception=True)
@never_cache
@with_people
def user_key(request: HtmxHttpRequest, people: People, organization_id: UUID, user_id: UUID) -> HttpResponse:
    posted = request.method == "POST"
    form = ApiKeyForm(
        request.POST if posted else None, once="" if posted else services.api_key_form_token(staff=request.user)
    )
    page = {
        "people": people,
        "form": form,
        "last_key": queries.user_last_key(organization_id=organization_id, user_id=user_id),
    }
    if request.method != "POST" or not form.is_valid():
        return render(request, "orgadmin/user_key.html", page, status=form_status(form))
    if not services.api_key_form_token_take(staff=request.user, token=form.cleaned_data["once"]):
        return render(request, "orgadmin/user_key_used.html", page)
    try:
        key = services.user_create_api_key(
            context=AuditContext.from_request(request),
            organization_id=organization_id,
            user_id=user_id,
            force=form.cleaned_data["force"],
            form_key=form.cleaned_data["form_key"],
        )
    except (PolytomicError, AuditUnavailable) as exc:
        form.add_upstream_error(exc)
        form.data = form.data.copy()
        form.data["once"] = services.api_key_form_token(staff=request.user)
        return render(request, "orgadmin/user_key.html", page, status=form_status(form, exc))
    return render(request, "orgadmin/user_key_created.html", {**page, "key": key.value})

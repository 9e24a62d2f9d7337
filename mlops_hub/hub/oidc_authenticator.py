"""GenericOAuthenticator with the platform's identity rules (mlops_hub.hub.oidc_policy):

- the username comes from the configured claim; a missing or unusable one refuses the login (403);
- provider groups map 1:1 onto hub groups; a group that cannot, or that would land on a
  role-bearing hub group, is left out and the reason logged;
- admin comes only from `admin_groups`, the quota-manager group only from `quota_manager_groups`
  (`admin_users` grants nothing: an account named `admin` is an ordinary user);
- each hub username is bound to the provider subject (issuer, sub) of its first login; another
  subject under that name is refused, not merged.
"""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets import Set, Unicode

from . import oidc_subjects
from .oidc_policy import (
    GroupRules,
    Refused,
    decide_groups,
    role_groups,
    subject_conflict,
    subject_from,
    username_from,
)


class MLOpsOIDCAuthenticator(GenericOAuthenticator):
    issuer = Unicode(help="The OIDC issuer: stored with each username's subject.").tag(config=True)
    groups_claim = Unicode("groups", help="The userinfo claim with the user's groups.").tag(config=True)
    quota_manager_groups = Set(
        help="Hub group names (mapped) whose members join `quota_manager_group`.").tag(config=True)
    quota_manager_group = Unicode(
        "", help="The hub group holding the quota-manager role ('' = none).").tag(config=True)

    def _refuse(self, message: str) -> web.HTTPError:
        self.log.warning("OIDC login refused: %s", message)
        return web.HTTPError(403, "%s", message)

    def user_info_to_username(self, user_info):
        try:
            return username_from(user_info, self.username_claim)
        except Refused as e:
            raise self._refuse(str(e)) from None

    def _rules(self) -> GroupRules:
        # role-bearing groups are read from the hub's load_roles at login: config order does not matter
        return GroupRules(admin=frozenset(self.admin_groups), quota_managers=frozenset(self.quota_manager_groups),
                          quota_manager_group=self.quota_manager_group,
                          reserved=role_groups(getattr(self.parent, "load_roles", None) or []))

    def _decision(self, auth_state: dict):
        return decide_groups((auth_state.get(self.user_auth_state_key) or {}).get(self.groups_claim), self._rules())

    async def get_user_groups(self, auth_state: dict):
        decision = self._decision(auth_state)
        user = (auth_state.get(self.user_auth_state_key) or {}).get(self.username_claim)
        for raw, reason in sorted(decision.refused.items()):
            self.log.warning("OIDC group %r of %r not used: %s", raw, user, reason)
        return set(decision.groups)

    async def update_auth_model(self, auth_model):
        # a bool, never None: each login sets admin from the admin groups alone (None would keep
        # an admin flag the hub's database already had, e.g. from admin_users)
        auth_model["admin"] = self._decision(auth_model["auth_state"]).admin
        return auth_model

    async def run_post_auth_hook(self, handler, authentication):
        """After the allow checks: bind the username to this subject, or refuse another one."""
        user_info = (authentication.get("auth_state") or {}).get(self.user_auth_state_key) or {}
        try:
            sub = subject_from(user_info)
        except Refused as e:
            raise self._refuse(str(e)) from None
        username = authentication["name"]
        bound = oidc_subjects.bind(handler.db, username, self.issuer, sub)
        conflict = subject_conflict(username, bound, self.issuer, sub)
        if conflict:
            self.log.warning("OIDC login refused: subject %r of %s claims hub user %r, bound to subject %r",
                             sub, self.issuer, username, bound[1])
            raise web.HTTPError(403, "%s", conflict)
        return await super().run_post_auth_hook(handler, authentication)

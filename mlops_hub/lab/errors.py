"""Errors the lab extension reports to a person, each with the HTTP status a handler answers."""

from __future__ import annotations


class LabError(Exception):
    """A failure a user can act on; `message` is written for them, `status` is the HTTP code."""

    status: int = 500
    reason: str = "error"

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if reason is not None:
            self.reason = reason


class InvalidInput(LabError):
    status = 400
    reason = "invalid-input"


class NotAGitRepository(LabError):
    status = 409
    reason = "not-a-git-repository"


class NothingToCommit(LabError):
    status = 409
    reason = "nothing-to-commit"


class PushRejected(LabError):
    status = 409
    reason = "push-rejected"


class GitFailed(LabError):
    status = 500
    reason = "git-failed"


class TokenMissing(LabError):
    status = 401
    reason = "gitlab-token-missing"


class GitLabUnavailable(LabError):
    status = 502
    reason = "gitlab-unavailable"


class GitLabRefused(LabError):
    status = 502
    reason = "gitlab-refused"


class MlflowUnavailable(LabError):
    status = 502
    reason = "mlflow-unavailable"


class MlflowNotFound(LabError):
    status = 404
    reason = "mlflow-not-found"

"""Typed domain errors. Handlers turn them into localized answers."""


class DomainError(Exception):
    """Base of every error a user can be told about."""


class InvalidEmail(DomainError):
    pass


class ForeignContact(DomainError):
    """A shared contact that is not the sender's own."""


class InvalidPhone(DomainError):
    pass


class NotRegistered(DomainError):
    pass

"""Imports every feature's tables so that the shared metadata knows them all."""

from autan.accounts import models as _accounts
from autan.arena import models as _arena
from autan.assistants import models as _assistants
from autan.budgets import models as _budgets
from autan.chat import models as _chat
from autan.connectors import models as _connectors
from autan.core import events_db as _events
from autan.core.db import Base
from autan.documents import models as _documents
from autan.prompts import models as _prompts
from autan.questionnaires import models as _questionnaires
from autan.research import models as _research
from autan.retention import models as _retention
from autan.usage import models as _usage

metadata = Base.metadata

__all__ = [
    "metadata",
    "_accounts",
    "_arena",
    "_assistants",
    "_budgets",
    "_chat",
    "_connectors",
    "_documents",
    "_events",
    "_prompts",
    "_questionnaires",
    "_retention",
    "_research",
    "_usage",
]

"""AWS Lambda entry point: `reranker.handler.handler`.

Built at init, once per execution environment: the app, and the default model loaded and
warmed, so warm invocations only score. Mangum's lifespan is off because it would run on
every invocation.
"""

from __future__ import annotations

from mangum import Mangum

from reranker.api.app import create_app
from reranker.config import get_settings

settings = get_settings()
app = create_app(settings)
if settings.default_model:
    app.state.service.warm(settings.default_model)
handler = Mangum(app, lifespan="off")

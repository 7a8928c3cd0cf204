"""``python -m markovlens.ops.run_migrations``: bring the database to the head revision, then exit.

Run once before the API and the workers start (docker-compose's ``migrate`` service), so a
schema change is applied by one process, visibly, and a failure stops the deployment before
anything serves. The API and workers still call the same idempotent upgrade at start-up.
"""

from __future__ import annotations

import logging
import sys

from markovlens.ops.logging import configure_logging
from markovlens.settings import get_settings
from markovlens.store import make_engine, upgrade
from markovlens.store.migrate import current_revision

log = logging.getLogger("markovlens.migrate")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            revision = current_revision(connection)
    except Exception as exc:
        log.error("migration failed: %s", exc)
        return 1
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    log.info("database %s at revision %s", where, revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every domain's tables on one metadata, for autogenerating migrations."""

from mainsail.alerts import models as _alerts  # noqa: F401
from mainsail.audit import models as _audit  # noqa: F401
from mainsail.auth import models as _auth  # noqa: F401
from mainsail.collab import models as _collab  # noqa: F401
from mainsail.core import events as _events  # noqa: F401
from mainsail.core import idempotency as _idempotency  # noqa: F401
from mainsail.core.db import Base
from mainsail.data import models as _data  # noqa: F401
from mainsail.features import models as _features  # noqa: F401
from mainsail.labels import models as _labels  # noqa: F401
from mainsail.loops import models as _loops  # noqa: F401
from mainsail.monitoring import models as _monitoring  # noqa: F401
from mainsail.pipelines import models as _pipelines  # noqa: F401
from mainsail.registry import models as _registry  # noqa: F401
from mainsail.serving import models as _serving  # noqa: F401
from mainsail.tracking import models as _tracking  # noqa: F401

target_metadata = Base.metadata

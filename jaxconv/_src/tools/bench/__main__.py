"""``python -m jaxconv._src.tools.bench``: the child processes of ``jaxconv bench``."""

import sys

from jaxconv._src.tools.bench import main

sys.exit(main())

"""portalnews item pipelines: pure text, date and number normalisation plus page extraction."""

import logging

logger = logging.getLogger(__name__)

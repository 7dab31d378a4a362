"""Load the property tests' hypothesis profile (see :mod:`tests.property.profile`)."""

from hypothesis import settings

from tests.property.profile import PROFILE

settings.load_profile(PROFILE)

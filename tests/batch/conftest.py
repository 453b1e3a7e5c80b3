"""A folder of 22 small real photographs in mixed sizes and formats."""

import pytest

from tests.batch.photos import make_photo_folder


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("photos") / "photos")

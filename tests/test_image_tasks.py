"""Image payloads reach labelers through Label Studio's local-files storage (real server)."""

import pytest

from labeling.accounts import load_credentials, login_session
from labeling.client import connect
from labeling.queue import ImageServing, QueuedExample, labeling_interface
from labeling.tasks import ensure_local_storage, ensure_project, push_tasks
from warehouse.config import parse_config

pytestmark = pytest.mark.labelstudio

IMAGE_CONFIG = parse_config(
    {
        "dataset": {
            "name": "images",
            "label_column": "label",
            "labels": ["cat", "dog"],
            "image_columns": ["image_path"],
        },
        "sources": {"target": ["app"]},
        "splits": {
            "salt": "s",
            "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
            "training": {"train": 0.9, "train_dev": 0.1},
        },
    }
)


def test_an_image_task_shows_the_file_through_local_files_storage(labelstudio):
    settings, _ = labelstudio
    root = settings.document_root
    (root / "images").mkdir(exist_ok=True)
    png = b"\x89PNG\r\n\x1a\n" + b"bayesline test image"
    (root / "images" / "cat 1.png").write_bytes(png)
    example = QueuedExample("e1", "dev", "overall", "all", 0.0, {"image_path": "images/cat 1.png"})
    admin = load_credentials(settings.credentials_path)
    with connect(settings) as client:
        interface = labeling_interface(IMAGE_CONFIG)
        assert '<Image name="image_path" value="$image_path"/>' in interface
        project_id = ensure_project(client, "image tasks", interface, overlap=1)
        try:
            images = ImageServing(root, IMAGE_CONFIG.dataset.image_columns)
            assert images.storage_folders([example]) == {root.resolve() / "images"}
            for _ in range(2):  # idempotent
                ensure_local_storage(client, project_id, root / "images")
            assert len(list(client.import_storage.local.list(project=project_id))) == 1
            result = push_tasks(client, project_id, [example], 1, images=images)
            url = client.tasks.get(result.task_ids["e1"]).data["image_path"]
            assert url == "/data/local-files/?d=images/cat%201.png"
            with login_session(settings.url, admin.username, admin.password) as session:
                served = session.get(url)
            assert served.status_code == 200 and served.content == png
        finally:
            client.projects.delete(project_id)


def test_an_image_outside_the_document_root_is_refused_with_what_to_do(tmp_path):
    images = ImageServing(tmp_path / "home", ("image_path",))
    for outside in ("/etc/hostname", "../elsewhere/a.png", "top-level.png"):
        with pytest.raises(ValueError, match="copy the images there"):
            images.url(outside)

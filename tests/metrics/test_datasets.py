"""Standard data sets from their IDX files: where they are found, what is refused, and the
verified fetch against a local HTTP server on 127.0.0.1 (nothing goes beyond the loopback)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from metrics.io import datasets
from tests.metrics._idx_files import idx_bytes, write_idx, write_split_files


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No system folder and an empty data home: only what a test writes is found."""
    for name, ds in datasets.DATASETS.items():
        nowhere = dataclasses.replace(ds, system=str(tmp_path / "system" / name))
        monkeypatch.setitem(datasets.DATASETS, name, nowhere)
    monkeypatch.setenv("DIVERGENCES_DATA", str(tmp_path / "home"))


def test_reads_the_files_of_each_split_gzipped_or_not(tmp_path):
    write_split_files(tmp_path / "home" / "fashion-mnist", n_train=30, n_test=12, gz=True)
    x, y = datasets.load_split("fashion-mnist", "train")
    assert x.shape == (30, 28, 28) and str(x.dtype) == "torch.uint8"
    assert y.tolist() == [k % 10 for k in range(30)]
    write_split_files(tmp_path / "home" / "mnist", n_train=8, n_test=6, gz=False)
    x, y = datasets.load_split("mnist", "test")
    assert x.shape == (6, 28, 28) and str(y.dtype) == "torch.int64"
    assert int(x[3, 2 + 2 * 3, 10]) == 230  # the writer's bar of class 3


def test_search_order_root_home_torchvision_system(tmp_path):
    layouts = {
        "system": tmp_path / "system" / "fashion-mnist",
        "tv_home": tmp_path / "home" / "FashionMNIST" / "raw",
        "home": tmp_path / "home" / "fashion-mnist",
        "tv_root": tmp_path / "root" / "FashionMNIST" / "raw",
        "root": tmp_path / "root",
    }
    for i, (key, folder) in enumerate(layouts.items()):  # each one holds another test count
        write_split_files(folder, n_train=4, n_test=2 + i, gz=i % 2 == 0)
        root = tmp_path / "root" if key.endswith("root") else None
        img, _ = datasets.find_split("fashion-mnist", "test", data_root=root)
        assert img.parent == folder, key
        assert len(datasets.load_split("fashion-mnist", "test", data_root=root)[1]) == 2 + i


def test_missing_files_one_line_naming_where_it_looked_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_split("fashion-mnist", "train", data_root=tmp_path / "mine")
    msg = str(info.value)
    assert "\n" not in msg and "train-images-idx3-ubyte[.gz]" in msg
    assert str(tmp_path / "mine" / "FashionMNIST" / "raw") in msg
    assert str(tmp_path / "system" / "fashion-mnist") in msg
    assert "divergences data fetch fashion-mnist" in msg and "dataset-fashion-mnist" in msg


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda f: write_split_files(f, size=32), r"images must be uint8 of shape \(N, 28, 28\)"),
        (lambda f: write_split_files(f, bad_label=10), "1 labels out of range"),
        (lambda f: write_split_files(f, bad_label=255), "max 255"),
    ],
)
def test_bad_sets_are_refused_naming_the_file(tmp_path, make, message):
    make(tmp_path / "home" / "mnist")
    with pytest.raises(ValueError, match=message) as info:
        datasets.load_split("mnist", "train")
    assert str(tmp_path / "home" / "mnist") in str(info.value)


def test_label_count_and_type_must_match_the_images(tmp_path):
    folder = write_split_files(tmp_path / "home" / "mnist", n_train=10)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(9, np.uint8), gz=True)
    with pytest.raises(ValueError, match="9 labels for the 10 images"):
        datasets.load_split("mnist", "train")
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(10, np.int32), gz=True)
    with pytest.raises(ValueError, match="labels must be uint8"):
        datasets.load_split("mnist", "train")


def test_specs_and_bad_names():
    assert datasets.parse_spec("fashion-mnist:train") == ("fashion-mnist", "train")
    assert datasets.parse_spec("mnist") == ("mnist", "test")
    assert datasets.parse_spec("mnist:val") is None and datasets.parse_spec(3) is None
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        datasets.load_split("cifar", "train")
    with pytest.raises(ValueError, match="split must be one of train, test"):
        datasets.load_split("mnist", "valid")


# ------------------------------------------------------------------ fetch, on 127.0.0.1
FILES = {name: gzip.compress(idx_bytes(np.full((k + 1, 28, 28), k, np.uint8)))
         for k, name in enumerate(datasets.DATASETS["mnist"].md5)}  # fmt: skip
MD5 = {name: hashlib.md5(data).hexdigest() for name, data in FILES.items()}


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012

    def do_GET(self):
        self.hits.append(self.path)
        mode, _, name = self.path.strip("/").partition("/")
        if mode == "missing" or name not in FILES:
            self.send_error(404)
            return
        body = FILES[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "short" else body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _fetch(url, root, **kw):
    return datasets.fetch("mnist", root=root, url=url, md5=kw.pop("md5", MD5), progress=False,
                          timeout=5, **kw)  # fmt: skip


def test_fetch_right_checksums_then_nothing_downloaded_again(server, tmp_path):
    folder = _fetch(server + "/good", tmp_path)
    assert folder == tmp_path / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # no temporaries left
    assert all((folder / n).read_bytes() == FILES[n] for n in FILES)
    before = len(_Handler.hits)
    assert _fetch(server + "/good", tmp_path) == folder
    assert len(_Handler.hits) == before
    x, _ = datasets.find_split("mnist", "train", data_root=tmp_path), None
    assert x[0].parent == folder


def test_fetch_wrong_checksum_keeps_nothing(server, tmp_path):
    wrong = {**MD5, "train-images-idx3-ubyte.gz": "0" * 32}
    with pytest.raises(ValueError, match=r"is not the published 0{32}; nothing was kept"):
        _fetch(server + "/good", tmp_path, md5=wrong)
    assert "train-images-idx3-ubyte.gz" not in [p.name for p in (tmp_path / "mnist").iterdir()]
    assert not [p for p in (tmp_path / "mnist").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("mode, message", [("short", "transfer ended after"),
                                           ("missing", "Not Found")])  # fmt: skip
def test_fetch_interrupted_or_failed_transfer_keeps_nothing(server, tmp_path, mode, message):
    with pytest.raises(ConnectionError, match=message):
        _fetch(f"{server}/{mode}", tmp_path)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_fetch_leaves_a_foreign_file_alone(server, tmp_path):
    (tmp_path / "mnist").mkdir()
    mine = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    mine.write_bytes(b"my own file")
    with pytest.raises(ValueError, match="left as it is"):
        _fetch(server + "/good", tmp_path)
    assert mine.read_bytes() == b"my own file"


def test_data_command_one_line_errors(server, tmp_path, capsys):
    from gan.cli import main

    assert main(["data", "path", "mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "divergences data fetch mnist" in err[0]
    # the published digests are not those of the test files: refused, nothing kept
    assert main(["data", "fetch", "mnist", "--root", str(tmp_path), "--quiet", "--url",
                 server + "/good"]) == 2  # fmt: skip
    assert "is not the published" in capsys.readouterr().err
    assert main(["data", "fetch", "mnist", "--root", str(tmp_path), "--quiet", "--url",
                 server + "/short"]) == 1  # fmt: skip
    assert "transfer ended" in capsys.readouterr().err
    assert list((tmp_path / "mnist").iterdir()) == []
    _fetch(server + "/good", tmp_path / "home")
    assert main(["data", "path", "mnist"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "home" / "mnist")

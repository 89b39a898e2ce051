"""The weights cache and fetch, against a local HTTP server on 127.0.0.1 serving a fake file.

Nothing here reaches beyond the loopback address: every fetch gets the local server's URL and
the fake file's digest through its parameters.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from gan.cli.weights import main as weights_main
from metrics.networks import weights

PAYLOAD = bytes(range(256)) * 1500  # 384 000 bytes: several chunks of the server's writes
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
NAME = weights.REGISTRY["inception"].filename


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        self.hits.append(self.path)
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.path != "/nolength":
            self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        body = PAYLOAD[: len(PAYLOAD) // 3] if self.path in ("/short", "/nolength") else PAYLOAD
        self.wfile.write(body)  # then the handler returns and the server closes the connection

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _fetch(url: str, folder: Path, **kw):
    kw = {"sha256": DIGEST, "progress": False, **kw}
    return weights.fetch("inception", url=url, cache_dir=folder, timeout=5, **kw)


def test_right_hash_is_kept_and_not_downloaded_again(server, tmp_path):
    before = len(_Handler.hits)
    path = _fetch(server + "/good", tmp_path, progress=True)
    assert path == tmp_path / NAME and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]  # no temporary file left
    assert weights.sha256_file(path) == DIGEST
    assert _fetch(server + "/good", tmp_path) == path
    assert len(_Handler.hits) == before + 1  # the verified file was not downloaded again
    assert weights.find("inception", cache_dir=tmp_path) == path


def test_wrong_hash_leaves_nothing(server, tmp_path):
    with pytest.raises(ValueError) as info:
        _fetch(server + "/good", tmp_path / "cache", sha256="0" * 64)
    assert DIGEST in str(info.value) and "0" * 64 in str(info.value)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    "path, message",
    [
        ("/short", "transfer ended after 128000 of 384000 bytes"),
        ("/missing", r"failed after 0 bytes \(Not Found\); nothing was kept"),
    ],
)
def test_interrupted_or_failed_transfer_leaves_nothing(server, tmp_path, path, message):
    with pytest.raises(ConnectionError, match=message):
        _fetch(server + path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_early_close_without_length_is_caught_by_the_digest(server, tmp_path):
    with pytest.raises(ValueError, match=r"128000 bytes\) is not the expected"):
        _fetch(server + "/nolength", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_with_another_digest_is_left_alone(server, tmp_path):
    target = tmp_path / NAME
    target.write_bytes(b"the user's own file")
    before = len(_Handler.hits)
    with pytest.raises(ValueError, match="left as it is"):
        _fetch(server + "/good", tmp_path)
    assert target.read_bytes() == b"the user's own file"
    assert len(_Handler.hits) == before


def test_bad_names_and_urls(tmp_path):
    with pytest.raises(ValueError, match=r"unknown weights 'vgg'; known: .*inception"):
        weights.fetch("vgg", cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"url must be http\(s\):// or file://"):
        weights.fetch("inception", url="ftp://127.0.0.1/x", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="run `divergences weights fetch inception`"):
        weights.find("inception", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cache_folder_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("DIVERGENCES_CACHE")
    assert weights.cache_dir() == tmp_path / "xdg" / "divergences"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "divergences"


def test_main_reports_in_one_line(server, tmp_path, capsys):
    assert weights_main(["path", "inception", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "divergences weights fetch inception" in err[0]
    args = ["fetch", "inception", "--cache-dir", str(tmp_path), "--quiet", "--url"]
    assert weights_main([*args, server + "/short"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ended after" in err[0] and "Traceback" not in err[0]
    assert weights_main([*args, server + "/good"]) == 2  # not the published digest
    assert "is not the expected" in capsys.readouterr().err
    assert weights_main(["fetch", "nonsense"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    _fetch(server + "/good", tmp_path)
    assert weights_main(["path", "inception", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / NAME)

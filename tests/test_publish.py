"""`dynloss publish`: tables and figure PNGs copied with an index that stamps every item."""
import pytest

from dynloss import cli, publish
from dynloss.figures import renderer
from dynloss.figures.common import save


def test_publish_copies_and_stamps(tmp_path):
    src = tmp_path / "results"
    fig = renderer("schedule")([], {"A": 10, "T": 50, "steps": 200, "data": {"num_classes": 3}, "scale": "tiny"},
                               "Gamma")
    save(fig, src / "figures" / "fig3_1.pdf", src / "figures" / "fig3_1.png")
    stamp = publish.png_stamp(src / "figures" / "fig3_1.png")
    assert stamp.startswith("scale tiny | commit ")
    (src / "reproduction.csv").write_text("claim,verdict\nx,reproduced\n")
    (src / "reproduction.md").write_text("Verdicts: 1 reproduced, 0 not reproduced, 0 not run.\n")
    out = tmp_path / "docs" / "reproduction"
    items = [src / "reproduction.csv", src / "reproduction.md", src / "figures" / "fig3_1.png"]
    assert cli.main(["publish", *map(str, items), "--out", str(out), "--scale", "tiny"]) == 0
    assert (out / "figures" / "fig3_1.png").read_bytes() == items[2].read_bytes()
    assert (out / "reproduction.csv").read_text() == items[0].read_text()
    index = (out / "README.md").read_text()
    cell = stamp.replace("|", "&#124;")  # a bare "|" would split the Markdown table's cell
    assert f"| [figures/fig3_1.png](figures/fig3_1.png) | {cell} |" in index
    assert "| [reproduction.csv](reproduction.csv) | scale tiny &#124; commit " in index
    assert "1 reproduced" in index


@pytest.mark.parametrize("name", ["missing.png", "x.nc"])
def test_publish_refuses_bad_items(tmp_path, name, capsys):
    p = tmp_path / name
    if name.endswith(".nc"):
        p.write_text("x")
    assert cli.main(["publish", str(p), "--out", str(tmp_path / "o"), "--scale", "tiny"]) == 2
    assert "items:" in capsys.readouterr().err
    assert not (tmp_path / "o" / "README.md").exists()

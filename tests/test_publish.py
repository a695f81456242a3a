"""`dynloss publish`: tables and figure PNGs copied with an index that stamps every item."""
import pytest

from dynloss import cli
from dynloss.figures import renderer
from dynloss.figures.common import save
from dynloss.verdicts import publish


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


@pytest.mark.parametrize("name", ["missing.png", "x.txt"])
def test_publish_refuses_bad_items(tmp_path, name, capsys):
    p = tmp_path / name
    if name.endswith(".nc"):
        p.write_text("x")
    assert cli.main(["publish", str(p), "--out", str(tmp_path / "o"), "--scale", "tiny"]) == 2
    assert "items:" in capsys.readouterr().err
    assert not (tmp_path / "o" / "README.md").exists()


def test_a_publication_of_another_label_is_not_replaced_without_overwrite(tmp_path, capsys):
    """A tiny run publishing into the folder of the paper-settings publication is refused, naming
    both labels and the way to replace it; with --overwrite it goes ahead."""
    (tmp_path / "t.csv").write_text("claim,verdict\n")
    out = tmp_path / "pub"
    base = ["publish", str(tmp_path / "t.csv"), "--out", str(out)]
    assert cli.main(base + ["--scale", "paper", "--label", "scale paper, configuration aaa"]) == 0
    before = (out / "README.md").read_text()
    assert cli.main(base + ["--scale", "tiny", "--label", "scale tiny, configuration bbb"]) == 2
    err = capsys.readouterr().err
    assert "holds the publication 'scale paper, configuration aaa'" in err and "publish_overwrite=true" in err
    assert (out / "README.md").read_text() == before
    assert cli.main(base + ["--scale", "paper", "--label", "scale paper, configuration aaa"]) == 0  # same label
    assert cli.main(base + ["--scale", "tiny", "--label", "scale tiny, configuration bbb", "--overwrite"]) == 0
    assert publish.existing_label(out) == "scale tiny, configuration bbb"


def test_reduce_keeps_a_contour_study_s_final_metrics_compressed(tmp_path):
    import numpy as np
    import xarray as xr

    from dynloss import netcdf

    rng = np.random.default_rng(0)
    ds = xr.Dataset({"final_train_acc": (("A", "T", "seed"), rng.random((2, 3, 4))),
                     "L": (("A", "T", "seed", "step"), rng.random((2, 3, 4, 500)))},
                    coords={"A": [1.0, 5.0], "T": [10.0, 20.0, 30.0], "seed": np.arange(4), "step": np.arange(500)})
    src, out = tmp_path / "s.nc", tmp_path / "r.nc"
    netcdf.write_netcdf(ds, src)
    assert cli.main(["reduce", str(src), "--keep", "final", "--out", str(out)]) == 0
    red = netcdf.open_dataset(out)
    assert list(red.data_vars) == ["final_train_acc"] and "step" not in red.dims
    np.testing.assert_array_equal(red["final_train_acc"].values, ds["final_train_acc"].values)
    assert red["final_train_acc"].encoding.get("zlib") or red["final_train_acc"].encoding.get("compression") == "zlib"
    assert cli.main(["reduce", str(src), "--keep", "all", "--out", str(out)]) == 0
    assert "L" in netcdf.open_dataset(out)


def test_the_readme_verdict_block_is_rewritten_from_the_published_table(tmp_path, capsys):
    from dynloss.verdicts import Inputs, table, to_csv

    (tmp_path / "reproduction.csv").write_text(to_csv(table(Inputs(), "paper")))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- verdicts: begin -->\nOLD-BLOCK\n<!-- verdicts: end -->\n\nrest\n")
    out = tmp_path / "pub"
    args = ["publish", str(tmp_path / "reproduction.csv"), "--out", str(out), "--scale", "paper"]
    assert cli.main(args + ["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "OLD-BLOCK" not in text and text.endswith("<!-- verdicts: end -->\n\nrest\n")
    assert "| not run | CE, width 100, A = 1: train accuracy | ~0.65 |" in text
    readme.write_text("no markers\n")
    assert cli.main(args + ["--readme", str(readme)]) == 2
    assert "has no '<!-- verdicts: begin -->'" in capsys.readouterr().err

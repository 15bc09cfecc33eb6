"""Parsers on files in the official format, with the real files' edge cases."""

from pathlib import Path

import pytest

from reference_model.data import annotations as A
from reference_model.data.images import clip_bbox, jpeg_problem, resolve_image
from reference_model.errors import DataError

CLOTH = """50
category_name  category_type
Anorak                       1
Button-Down                  1
Capris                       2
Sundress                     3
"""


def test_table_keeps_count_header_and_padded_rows():
    t = A.parse_table(CLOTH, "cloth")
    assert t.declared_count == 50 and not t.count_matches  # 4 rows here, 50 declared
    assert t.columns == ("category_name", "category_type")
    cats = A.parse_categories(t)
    assert [(c.id, c.name, c.type) for c in cats] == [
        (1, "Anorak", 1),
        (2, "Button-Down", 1),
        (3, "Capris", 2),
        (4, "Sundress", 3),
    ]


def test_names_with_spaces_entities_and_dots_stay_whole():
    text = (
        "3\nimage_name  category_label\n"
        "img/Sheer_Pleated-Front_Blouse/img_00000001.jpg                        3\n"
        "img/Lace &amp; Mesh_Dress/img_00000002.jpg   41\n"
        "img/St._Tropez_2.0_Tee/img_00000003.jpg\t18\n"
    )
    labels = A.parse_category_labels(A.parse_table(text))
    assert labels == {
        "img/Sheer_Pleated-Front_Blouse/img_00000001.jpg": 3,
        "img/Lace &amp; Mesh_Dress/img_00000002.jpg": 41,
        "img/St._Tropez_2.0_Tee/img_00000003.jpg": 18,
    }


def test_bbox_and_partition_rows():
    bb = A.parse_bboxes(
        A.parse_table("1\nimage_name  x_1  y_1  x_2  y_2\nimg/A_Tee/img_1.jpg   72  79 232 273\n")
    )
    assert bb == {"img/A_Tee/img_1.jpg": A.BBox(72, 79, 232, 273)}
    part = A.parse_partition(
        A.parse_table("2\nimage_name  evaluation_status\nimg/a.jpg  train\nimg/b.jpg   test\n")
    )
    assert part == {"img/a.jpg": "train", "img/b.jpg": "test"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "count line"),
        ("x\nimage_name  category_label\n", "row count"),
        ("1\nimage_name  category_label\nimg/a.jpg\n", "expected 2 fields"),
    ],
)
def test_malformed_tables_are_reported_with_the_file(text, message):
    with pytest.raises(DataError, match=message):
        A.parse_table(text, "list_category_img.txt")


def test_bad_values_are_reported():
    with pytest.raises(DataError, match="integer"):
        A.parse_category_labels(A.parse_table("1\nimage_name  category_label\nimg/a.jpg x\n"))
    with pytest.raises(DataError, match="evaluation_status"):
        A.parse_partition(A.parse_table("1\nimage_name  evaluation_status\nimg/a.jpg dev\n"))


def test_wrong_header_is_refused(tmp_path):
    path = tmp_path / "list_bbox.txt"
    path.write_text("1\nimage_name  x1  y1\nimg/a.jpg 1 2\n")
    with pytest.raises(DataError, match="header"):
        A.read_table(path, ("image_name", "x_1", "y_1", "x_2", "y_2"))


def test_anno_and_anno_coarse_folders(tmp_path):
    with pytest.raises(DataError, match="Anno"):
        A.find_anno_dir(tmp_path)
    (tmp_path / "Anno_coarse").mkdir()
    assert A.find_anno_dir(tmp_path).name == "Anno_coarse"
    (tmp_path / "Anno").mkdir()
    assert A.find_anno_dir(tmp_path).name == "Anno"


def test_image_names_resolve_with_entities_decoded_or_not(tmp_path):
    (tmp_path / "img" / "Lace_&_Mesh_Dress").mkdir(parents=True)
    (tmp_path / "img" / "Lace_&_Mesh_Dress" / "img_1.jpg").write_bytes(b"x")
    found = resolve_image(tmp_path, "img/Lace_&amp;_Mesh_Dress/img_1.jpg")
    assert found == tmp_path / "img" / "Lace_&_Mesh_Dress" / "img_1.jpg"
    assert resolve_image(tmp_path, "img/Lace_&amp;_Mesh_Dress/img_2.jpg") is None


def test_jpeg_problems(tmp_path):
    from PIL import Image

    good = tmp_path / "good.jpg"
    Image.new("RGB", (20, 10), (1, 2, 3)).save(good, "JPEG")
    assert jpeg_problem(good) is None
    data = good.read_bytes()
    cases = {"empty": b"", "not-jpeg": b"GIF89a....", "truncated": data[: len(data) // 2]}
    for reason, content in cases.items():
        path = tmp_path / f"{reason}.jpg"
        path.write_bytes(content)
        assert jpeg_problem(path) == reason
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(data + b"\x00" * 7)
    assert jpeg_problem(padded) is None


@pytest.mark.parametrize(
    "box, expected",
    [
        (A.BBox(10, 20, 50, 60), A.BBox(10, 20, 50, 60)),
        (A.BBox(-5, -5, 500, 400), A.BBox(0, 0, 100, 80)),  # beyond the image on every side
        (A.BBox(90, 70, 140, 120), A.BBox(90, 70, 100, 80)),
        (A.BBox(120, 10, 150, 50), None),  # wholly outside
        (A.BBox(50, 50, 40, 60), None),  # x2 < x1
    ],
)
def test_clip_bbox(box, expected):
    assert clip_bbox(box, 100, 80) == expected


def test_missing_file_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="missing annotation"):
        A.read_table(tmp_path / "nope.txt", ("a", "b"))


def test_errors_give_the_files_line_number_counting_blank_lines():
    # line 1 count, 2 header, 3 a row, 4 and 5 blank, 6 the bad row
    text = "2\nimage_name  category_label\nimg/A_Tee/img_1.jpg  18\n\n   \nimg/A_Tee/img_2.jpg\n"
    with pytest.raises(DataError, match=r"^f:6: expected 2 fields"):
        A.parse_table(text, "f")
    bad_value = "2\nimage_name  category_label\n\nimg/A_Tee/img_1.jpg  18\nimg/A_Tee/img_2.jpg x\n"
    with pytest.raises(DataError, match=r"^f:5: expected an integer, got 'x'"):
        A.parse_category_labels(A.parse_table(bad_value, "f"))
    assert A.parse_table(bad_value, "f").line_numbers == (4, 5)


@pytest.mark.parametrize(
    "header, row, parse",
    [
        ("image_name  category_label", "18", A.parse_category_labels),
        ("image_name  x_1  y_1  x_2  y_2", "1 2 3 4", A.parse_bboxes),
        ("image_name  evaluation_status", "train", A.parse_partition),
    ],
)
def test_an_image_listed_twice_is_an_error_not_an_overwrite(header, row, parse):
    text = (
        f"3\n{header}\nimg/A_Tee/a.jpg  {row}\nimg/A_Tee/b.jpg  {row}\n\nimg/A_Tee/a.jpg  {row}\n"
    )
    with pytest.raises(
        DataError, match=r"^f:6: img/A_Tee/a.jpg is listed again \(first at line 3\)"
    ):
        parse(A.parse_table(text, "f"))

"""Article or not by what a page is, not by how it is laid out (issue 8): an article laid out
in nested tables is an article, a document list is not; a view count comes only from the
article's own meta area; bodies keep bare text nodes and ``<br>`` runs."""

from __future__ import annotations

from pipelines.extract import extract_page

SIDEBAR = "".join(
    f"<tr><td><a href='Default.aspx?tabid=53&amp;ItemID={900 + i}'>Tin khác số {i} về hoạt động của huyện Lục Sơn</a>"
    f" (12/08/2024) - Lượt xem: {3000 + i}</td></tr>" for i in range(6))
LEAD = "Sáng 25/7, Ủy ban MTTQ Việt Nam huyện Lục Sơn tổ chức Đại hội đại biểu lần thứ XXI, nhiệm kỳ 2024-2029."
PARAGRAPHS = [
    "Nhiệm kỳ qua, MTTQ các cấp trong huyện đã đổi mới nội dung, phương thức hoạt động, phát huy sức mạnh "
    "khối đại đoàn kết toàn dân tộc, vận động Nhân dân tham gia xây dựng nông thôn mới.",
    "Quỹ Vì người nghèo các cấp vận động được trên 14,6 tỷ đồng, hỗ trợ xây mới và sửa chữa 312 nhà Đại đoàn kết "
    "cho hộ nghèo, hộ có hoàn cảnh khó khăn trên địa bàn huyện.",
    "Đại hội đã hiệp thương cử 55 vị vào Ủy ban MTTQ Việt Nam huyện khóa XXI và cử đoàn đại biểu đi dự Đại hội "
    "MTTQ Việt Nam tỉnh Bắc Giang lần thứ XVIII.",
]


def _table_page(title: str, meta: str, content: str) -> str:
    """A 2010-era ASP.NET page: everything in nested layout tables, a sidebar of other items."""
    return f"""<html><head><title>{title} - Cổng thông tin điện tử huyện Lục Sơn</title></head><body>
<table width="1000"><tr><td colspan="3"><font size="1">Hôm nay: Thứ Hai, 02/12/2024</font></td></tr>
<tr><td width="180" valign="top"><table><tr><td><a href="Default.aspx?tabid=53">Tin tức - Sự kiện</a></td></tr>
<tr><td><a href="Default.aspx?tabid=60">Văn bản chỉ đạo</a></td></tr></table></td>
<td valign="top"><table width="100%"><tr><td>Trang chủ &raquo; <a href="Default.aspx?tabid=53">Tin tức - Sự kiện</a>
</td></tr><tr><td><table width="100%" cellpadding="4">
<tr><td><span class="TieuDe"><font size="3"><b>{title}</b></font></span></td></tr>
<tr><td><font size="1">{meta}</font></td></tr>
{content}
</table></td></tr></table></td>
<td width="200" valign="top"><table><tr><td><b>TIN XEM NHIỀU</b></td></tr>{SIDEBAR}</table></td></tr>
<tr><td colspan="3"><font size="1">Lượt truy cập: 1.234.567 | Đang online: 123</font></td></tr></table></body></html>"""


def test_an_article_laid_out_in_nested_tables_is_an_article() -> None:
    body = "<br /><br />".join(PARAGRAPHS[:2]) + "<br /><br />" + PARAGRAPHS[2]
    content = (f"<tr><td><table><tr><td><b>{LEAD}</b></td></tr></table></td></tr>"
               f"<tr><td><font size='2'>{body}</font></td></tr>"
               "<tr><td align='right'><font size='2'><b>Thu Hương</b></font></td></tr>")
    html = _table_page("Đại hội đại biểu MTTQ Việt Nam huyện Lục Sơn lần thứ XXI", "Đăng ngày 25 tháng 07 năm 2024 "
                       "&nbsp;|&nbsp; (1.518 lượt đọc)", content)
    got = extract_page(html, "http://luson.example/Default.aspx?tabid=53&ItemID=1210", profile="generic")
    assert got.page_kind == "article", got.reason
    assert got.title == "Đại hội đại biểu MTTQ Việt Nam huyện Lục Sơn lần thứ XXI"
    assert got.published_at == "2024-07-25T00:00:00+07:00" and got.date_precision == "day"
    assert got.view_count == 1518  # its own, not a sidebar item's
    assert got.body == "\n".join([LEAD, *PARAGRAPHS])  # lead cell, then the <br><br> paragraphs
    assert got.author == "Thu Hương"
    assert got.category == "Tin tức - Sự kiện"


def test_a_document_list_in_the_same_layout_is_not_an_article() -> None:
    rows = "".join(
        f"<tr><td>{i}</td><td>{1500 + i}/QĐ-UBND</td><td>{10 + i:02d}/08/2024</td><td>Quyết định về việc phê duyệt "
        f"kế hoạch thực hiện nhiệm vụ số {i} năm 2024 của UBND huyện</td><td><a href='/Uploads/{i}.pdf'>Tải về</a>"
        f"</td></tr>" for i in range(1, 11))
    content = ("<tr><td><table border='1'><tr><th>STT</th><th>Số ký hiệu</th><th>Ngày ban hành</th>"
               f"<th>Trích yếu</th><th>Tệp</th></tr>{rows}</table></td></tr>")
    html = _table_page("Danh mục quyết định của UBND huyện tháng 8 năm 2024", "Ngày đăng: 23/08/2024 | Lượt xem: 456",
                       content)
    got = extract_page(html, "http://luson.example/Default.aspx?tabid=60", profile="generic")
    assert got.page_kind != "article", got.reason
    assert got.view_count is None  # a view count is an article's only


def test_views_after_an_eye_icon_are_read_in_the_meta_line_only() -> None:
    sidebar = "".join(f"<li><a href='/tin/{i}.html'>Tin xem nhiều số {i} của Sở Nông nghiệp tỉnh</a> "
                      f"<i class='fa fa-eye'></i> {4000 + i}</li>" for i in range(5))
    paragraphs = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    html = (f"<html><body><div class='main'><h1>Hội nghị triển khai nhiệm vụ 6 tháng cuối năm</h1>"
            f"<div class='meta'>Ngày đăng: Thứ Ba, 14/05/2024 | 09:30 &nbsp; <i class='fa fa-eye'></i> 1.038</div>"
            f"<div class='content'>{paragraphs}</div></div><div class='side'><ul>{sidebar}</ul></div></body></html>")
    got = extract_page(html, "http://snn.example/tin/1.html", profile="generic")
    assert got.page_kind == "article"
    assert got.view_count == 1038
    assert got.published_at == "2024-05-14T09:30:00+07:00"


def test_a_listing_never_gets_a_view_count() -> None:
    items = "".join(
        f"<div class='item'><h3><a href='/tin/{i}.html'>Tin hoạt động số {i} của UBND xã Tân Lập tháng 8</a></h3>"
        f"<span>Thứ hai, 0{i}/08/2024 - 08:15 | Lượt xem: {300 + i}</span><p>{PARAGRAPHS[i % 3]}</p></div>"
        for i in range(1, 8))
    html = f"<html><body><h1>Tin hoạt động</h1><div class='list'>{items}</div></body></html>"
    got = extract_page(html, "http://xa.example/tin-hoat-dong/", profile="generic")
    assert got.page_kind == "listing", got.reason
    assert got.view_count is None


def test_a_bare_last_paragraph_and_br_runs_stay_in_the_body_in_order() -> None:
    html = ("<html><body><div class='detail'><h1>Xã Phước Hưng Tây trao nhà Đại đoàn kết cho hộ nghèo</h1>"
            "<div class='date'>Thứ hai, 03/06/2024 - 08:15</div><div class='content'>"
            f"<p>{PARAGRAPHS[0]}</p><figure><img src='a.jpg'><figcaption>Lãnh đạo xã trao nhà cho gia đình ông A"
            f"</figcaption></figure>{PARAGRAPHS[1]}<br /><br />{PARAGRAPHS[2]}"
            "<p>Nguồn: Văn phòng HĐND-UBND xã</p></div><div class='related'><h3>Tin liên quan</h3><ul>"
            "<li><a href='/a.html'>Xã tổ chức hội nghị tổng kết công tác năm 2023</a> (12/01/2024)</li></ul></div>"
            "</div></body></html>")
    got = extract_page(html, "http://xa.example/vi/news/Tin-tuc/a-1/", profile="generic")
    assert got.page_kind == "article"
    assert got.body == "\n".join(PARAGRAPHS)  # no caption, no source line, no related box
    assert got.author == "Văn phòng HĐND-UBND xã"  # no byline: the source

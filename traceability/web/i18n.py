"""The page's words in Chinese (the default) and English.

One dict per language with the same keys; ``test_web`` checks that they match. Choosing the
language: ``?lang=`` first (and the page's links carry it on), then ``Accept-Language``, else
Chinese.
"""

from __future__ import annotations

LANGS = ("zh", "en")

ZH: dict[str, str] = {
    "site": "黑土追溯",
    "site_tagline": "黑龙江黑土农产品追溯",
    "lang_other": "English",
    "lang_other_code": "en",
    "verdict_traced": "已追溯到{county}的 {n} 块地",
    "verdict_traced_many": "已追溯到 {n} 块地：{county}",
    "verdict_warning": "注意：监管数据中有与本批次相关的未结问题",
    "verdict_incomplete": "记录不完整：无法追溯到具体地块",
    "verdict_recalled": "已召回",
    "verdict_recalled_since": "召回时间 {since}，原因：{reason}",
    "verdict_lot_unknown": "警告：本批次不在记录中",
    "lot_unknown_detail": (
        "追溯系统中没有批次 {lot} 的包装记录。此二维码可能是复制或伪造的，请谨慎购买，"
        "并可在下方报告。"
    ),
    "product_page": "产品信息",
    "gtin": "商品条码 (GTIN)",
    "lot": "批次",
    "serial": "序列号",
    "category": "类别",
    "packed": "包装",
    "packed_by": "包装企业",
    "units": "袋数",
    "lots_on_record": "记录在案的批次",
    "packed_between": "包装时间",
    "completeness": "数据完整性",
    "stage_plot": "地块",
    "stage_inputs": "投入品",
    "stage_harvest": "收获",
    "stage_processing": "加工",
    "stage_transport": "运输",
    "stage_sale": "销售",
    "stage_yes": "有记录",
    "stage_no": "无记录",
    "origin": "产地",
    "plots_n": "{n} 块地，共 {mu} 亩",
    "share": "占比",
    "area_mu": "面积（亩）",
    "soil": "黑土指标（按占比加权）",
    "som": "土壤有机质",
    "depth": "黑土层厚度",
    "practices": "耕作方式",
    "family_farm": "农户（家庭农场）",
    "map_title": "地块位置：{county}",
    "timeline": "全程记录",
    "step_sowing": "播种",
    "step_input": "投入品使用",
    "step_harvest": "收获",
    "step_drying": "烘干",
    "step_milling": "碾米",
    "step_blending": "拼配",
    "step_packing": "包装",
    "step_splitting": "分装",
    "step_shipping": "运输",
    "step_other": "加工",
    "reg_no": "登记证号",
    "variety": "品种",
    "dose": "用量",
    "plots_count": "{n} 块地",
    "lots_count": "{n} 个批次",
    "this_lot": "本批次",
    "more_shipments": "另有 {n} 次运输",
    "carrier": "承运",
    "cold_in_range": "全程温度合格",
    "cold_excursion": "温度超标 {minutes} 分钟，峰值 {peak}°C",
    "cold_gap": "温度记录中断 {minutes} 分钟",
    "cold_no_telemetry": "无温度记录",
    "cold_not_required": "常温运输",
    "temp_chart": "运输温度曲线 {shipment}",
    "sold": "销售去向",
    "sold_line": "{city} · {channel}：{retailers} 家门店，{units} 袋",
    "channel_store": "门店",
    "channel_ecommerce": "电商",
    "channel_wholesale": "批发",
    "not_sold_yet": "暂无销售记录",
    "findings": "监管发现",
    "finding_oversold": "售出数量超过包装数量（可能有仿冒）",
    "finding_over_output": "加工产出超过投入",
    "finding_over_consumed": "批次被使用的数量超过其重量",
    "finding_yield_over_ceiling": "地块单产超过上限",
    "finding_yield_over_county_p99": "地块单产远高于本县水平",
    "finding_brand_over_origin": "以产地品牌销售的数量超过产地产量",
    "finding_outside_plot": "收获定位不在地块内",
    "finding_outside_county": "地块不在所报县内",
    "finding_overlap": "地块与其他地块重叠",
    "finding_excursion": "冷链温度超标",
    "finding_gap": "冷链温度记录中断",
    "finding_no_readings": "冷链运输无温度记录",
    "finding_area_mismatch": "申报面积与测量面积不符",
    "finding_other": "其他问题",
    "recall_notice": "召回通知",
    "report_title": "发现问题？",
    "report_lead": "这袋米可能是假的，或有其他问题？告诉监管部门（无需登录，不收集个人信息）。",
    "report_category": "问题类型",
    "report_fake": "可能是假的",
    "report_quality": "质量问题",
    "report_label": "标签与实物不符",
    "report_other": "其他",
    "report_text": "说明（选填，最多 500 字）",
    "report_send": "提交",
    "report_thanks": "感谢您的报告，监管部门会跟进。",
    "report_too_many": "提交过于频繁，请稍后再试。",
    "report_invalid": "报告未能提交：{reason}",
    "not_found_title": "未找到此商品",
    "not_found_detail": "商品条码 {gtin} 不在追溯系统中。此码可能不是本系统发放的。",
    "bad_request_title": "无法识别的追溯码",
    "bad_request_detail": "此链接不是有效的 GS1 数字链接：{reason}",
    "home_lead": "扫描包装上的二维码，或输入追溯码，查看产品从黑土地到货架的全过程。",
    "home_code": "追溯码或链接",
    "home_go": "查询",
    "json_twin": "JSON",
    "epcis": "EPCIS 事件",
    "data_note": "数据来自合作社、加工厂、物流和零售商的记录，最后更新 {updated}。",
    "kg": "公斤",
    "unknown": "未知",
}

EN: dict[str, str] = {
    "site": "Heitu trace",
    "site_tagline": "Traceability for Heilongjiang black-soil produce",
    "lang_other": "中文",
    "lang_other_code": "zh",
    "verdict_traced": "Traced to {n} plot(s) in {county}",
    "verdict_traced_many": "Traced to {n} plots: {county}",
    "verdict_warning": "Caution: the bureau's records hold open findings about this lot",
    "verdict_incomplete": "Incomplete records: this lot cannot be traced to its plots",
    "verdict_recalled": "Recalled",
    "verdict_recalled_since": "Recalled on {since}. Reason: {reason}",
    "verdict_lot_unknown": "Warning: this lot is not on record",
    "lot_unknown_detail": (
        "The traceability system holds no packing record of lot {lot}. This code may be "
        "copied or fake: buy with care, and report it below."
    ),
    "product_page": "Product",
    "gtin": "GTIN",
    "lot": "Lot",
    "serial": "Serial",
    "category": "Category",
    "packed": "Packed",
    "packed_by": "Packed by",
    "units": "Bags",
    "lots_on_record": "Lots on record",
    "packed_between": "Packed",
    "completeness": "Data completeness",
    "stage_plot": "Plot",
    "stage_inputs": "Inputs",
    "stage_harvest": "Harvest",
    "stage_processing": "Processing",
    "stage_transport": "Transport",
    "stage_sale": "Sale",
    "stage_yes": "on record",
    "stage_no": "missing",
    "origin": "Origin",
    "plots_n": "{n} plot(s), {mu} mu in all",
    "share": "Share",
    "area_mu": "Area (mu)",
    "soil": "Black-soil indicators (weighted by share)",
    "som": "Soil organic matter",
    "depth": "Black-soil depth",
    "practices": "Practices",
    "family_farm": "Family farm",
    "map_title": "Where the plots are: {county}",
    "timeline": "Every step",
    "step_sowing": "Sowing",
    "step_input": "Input applied",
    "step_harvest": "Harvest",
    "step_drying": "Drying",
    "step_milling": "Milling",
    "step_blending": "Blending",
    "step_packing": "Packing",
    "step_splitting": "Splitting",
    "step_shipping": "Shipping",
    "step_other": "Processing",
    "reg_no": "Registration no.",
    "variety": "Variety",
    "dose": "Dose",
    "plots_count": "{n} plot(s)",
    "lots_count": "{n} lot(s)",
    "this_lot": "this lot",
    "more_shipments": "{n} more shipment(s)",
    "carrier": "Carrier",
    "cold_in_range": "Temperature in range throughout",
    "cold_excursion": "Out of range for {minutes} min, peak {peak} °C",
    "cold_gap": "No temperature readings for {minutes} min",
    "cold_no_telemetry": "No temperature records",
    "cold_not_required": "Ambient transport",
    "temp_chart": "Temperature during shipment {shipment}",
    "sold": "Where it was sold",
    "sold_line": "{city} · {channel}: {retailers} shop(s), {units} bag(s)",
    "channel_store": "shops",
    "channel_ecommerce": "online",
    "channel_wholesale": "wholesale",
    "not_sold_yet": "No sales on record yet",
    "findings": "Findings",
    "finding_oversold": "More units sold than were packed (possible copies)",
    "finding_over_output": "A step gave out more than it took in",
    "finding_over_consumed": "A lot was used for more than it weighed",
    "finding_yield_over_ceiling": "A plot's yield is over the ceiling",
    "finding_yield_over_county_p99": "A plot's yield is far above its county's",
    "finding_brand_over_origin": "More sold under the origin brand than the origin grew",
    "finding_outside_plot": "Harvest reported outside its plot",
    "finding_outside_county": "Plot lies outside its county",
    "finding_overlap": "Plot overlaps another plot",
    "finding_excursion": "Cold-chain temperature excursion",
    "finding_gap": "Cold-chain readings missing",
    "finding_no_readings": "Cold-chain shipment without temperature records",
    "finding_area_mismatch": "Declared area differs from the measured area",
    "finding_other": "Other finding",
    "recall_notice": "Recall notice",
    "report_title": "Something wrong?",
    "report_lead": (
        "Is this bag fake, or is something else wrong? Tell the bureau (no login, no "
        "personal data)."
    ),
    "report_category": "What is wrong",
    "report_fake": "May be fake",
    "report_quality": "Quality problem",
    "report_label": "Label does not match",
    "report_other": "Other",
    "report_text": "Details (optional, up to 500 characters)",
    "report_send": "Send",
    "report_thanks": "Thank you: the bureau will follow this up.",
    "report_too_many": "Too many reports from here: please try again later.",
    "report_invalid": "The report was not sent: {reason}",
    "not_found_title": "Product not found",
    "not_found_detail": (
        "GTIN {gtin} is not in the traceability system. This code may not be one of ours."
    ),
    "bad_request_title": "Not a traceability code",
    "bad_request_detail": "This link is not a valid GS1 Digital Link: {reason}",
    "home_lead": (
        "Scan the QR code on a bag, or type its code, to see its way from black-soil field "
        "to shelf."
    ),
    "home_code": "Code or link",
    "home_go": "Look up",
    "json_twin": "JSON",
    "epcis": "EPCIS events",
    "data_note": ("From the records of co-ops, mills, carriers and shops; last updated {updated}."),
    "kg": "kg",
    "unknown": "unknown",
}

STRINGS = {"zh": ZH, "en": EN}


def pick_lang(query_lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names one of ours, else the first of ours in Accept-Language (by
    q-value), else Chinese."""
    if query_lang in LANGS:
        return query_lang
    best: tuple[float, str] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q - i * 1e-6, primary)
    return best[1] if best else "zh"

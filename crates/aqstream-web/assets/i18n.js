// Texts of both pages in Chinese and English. The language follows ?lang=, then the
// last choice on this device, then the browser's language.
"use strict";

const TEXTS = {
  zh: {
    "citizen.title": "我身边的空气",
    "citizen.locate": "使用我的位置",
    "citizen.locating": "正在定位…",
    "citizen.tap": "或在地图上点选一个位置",
    "citizen.private": "您的位置只在本机使用，不会发送到服务器。",
    "citizen.no_location": "请选择一个位置。",
    "citizen.denied": "无法获取位置，请在地图上点选。",
    "citizen.here": "这里",
    "citizen.estimate": "由 {n} 个附近监测点估算，最近的在 {d} 外",
    "citizen.far": "附近没有监测点（最近的在 {d} 外），估算不可靠。",
    "citizen.advice": "健康建议",
    "citizen.day": "过去 24 小时 PM2.5",
    "citizen.sources": "污染从哪里来",
    "citizen.no_sources": "附近没有正在发生的污染事件。",
    "citizen.source_line": "{type}：在您{dir}方向 {dist}",
    "citizen.toward": "风正把它吹向您",
    "citizen.away": "风向背离您",
    "citizen.since": "开始于 {t}",
    "citizen.confidence": "可信度 {c}",
    "citizen.map": "监测点地图",
    "common.as_of": "数据时间 {t}",
    "common.no_data": "暂无数据",
    "common.standard": "标准",
    "common.cn": "中国 HJ 633",
    "common.us": "美国 EPA",
    "common.aqi": "空气质量指数",
    "common.pm25": "PM2.5",
    "common.ugm3": "微克/立方米",
    "common.error": "数据加载失败：{e}",
    "common.lang": "English",
    "officer.title": "污染告警 · 执法终端",
    "officer.active": "正在发生的告警",
    "officer.none_active": "当前没有告警。",
    "officer.history": "历史告警",
    "officer.evidence": "证据：监测点 PM2.5 时间序列",
    "officer.select": "在地图或列表中选择一个告警。",
    "officer.not_found": "告警 {id} 尚未出现在历史数据中。",
    "officer.source": "污染源估计",
    "officer.uncertainty": "不确定半径 {m}",
    "officer.type": "类型",
    "officer.confidence": "可信度",
    "officer.peak": "峰值",
    "officer.sensors": "监测点",
    "officer.wind": "风",
    "officer.started": "开始",
    "officer.detected": "发现",
    "officer.resolved": "结束",
    "officer.state": "状态",
    "officer.district": "区域",
    "officer.saw": "观测到",
    "officer.quiet": "未受影响（对照）",
    "officer.counts": "{a} 个进行中 · {h} 个（近 30 天）",
    "officer.wind_from": "风来自 {dir} {s} 米/秒",
    "officer.link": "链接",
    "state.firing": "进行中",
    "state.updated": "已更新",
    "state.resolved": "已结束",
    "type.dust": "扬尘",
    "type.combustion": "燃烧",
    "type.traffic": "交通",
    "type.coal": "燃煤",
    "type.industrial": "工业",
    "type.unknown": "未知",
    "dir": ["北", "东北", "东", "东南", "南", "西南", "西", "西北"],
  },
  en: {
    "citizen.title": "The air where I stand",
    "citizen.locate": "Use my location",
    "citizen.locating": "Locating…",
    "citizen.tap": "or tap a place on the map",
    "citizen.private": "Your location is used on this device only and never sent to the server.",
    "citizen.no_location": "Choose a place.",
    "citizen.denied": "Location unavailable; tap the map instead.",
    "citizen.here": "Here",
    "citizen.estimate": "Estimated from {n} nearby sensors, the nearest {d} away",
    "citizen.far": "No sensor nearby (the nearest is {d} away); the estimate is unreliable.",
    "citizen.advice": "Health advice",
    "citizen.day": "PM2.5, last 24 hours",
    "citizen.sources": "Where it comes from",
    "citizen.no_sources": "No pollution episode going on nearby.",
    "citizen.source_line": "{type}: {dist} to the {dir}",
    "citizen.toward": "the wind carries it towards you",
    "citizen.away": "the wind carries it away from you",
    "citizen.since": "since {t}",
    "citizen.confidence": "confidence {c}",
    "citizen.map": "Sensor map",
    "common.as_of": "Data as of {t}",
    "common.no_data": "No data yet",
    "common.standard": "Standard",
    "common.cn": "China HJ 633",
    "common.us": "US EPA",
    "common.aqi": "Air quality index",
    "common.pm25": "PM2.5",
    "common.ugm3": "µg/m³",
    "common.error": "Could not load data: {e}",
    "common.lang": "中文",
    "officer.title": "Pollution alerts · officer console",
    "officer.active": "Active alerts",
    "officer.none_active": "No active alerts.",
    "officer.history": "Alert history",
    "officer.evidence": "Evidence: PM2.5 at the sensors",
    "officer.select": "Select an alert on the map or in the list.",
    "officer.not_found": "Alert {id} is not in the history yet.",
    "officer.source": "Estimated source",
    "officer.uncertainty": "uncertainty radius {m}",
    "officer.type": "Type",
    "officer.confidence": "Confidence",
    "officer.peak": "Peak",
    "officer.sensors": "Sensors",
    "officer.wind": "Wind",
    "officer.started": "Started",
    "officer.detected": "Detected",
    "officer.resolved": "Resolved",
    "officer.state": "State",
    "officer.district": "District",
    "officer.saw": "saw it",
    "officer.quiet": "quiet neighbour",
    "officer.counts": "{a} active · {h} in the last 30 days",
    "officer.wind_from": "wind from {dir} {s} m/s",
    "officer.link": "Link",
    "state.firing": "firing",
    "state.updated": "updated",
    "state.resolved": "resolved",
    "type.dust": "Dust",
    "type.combustion": "Combustion",
    "type.traffic": "Traffic",
    "type.coal": "Coal",
    "type.industrial": "Industrial",
    "type.unknown": "Unknown",
    "dir": ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"],
  },
};

const I18N = {
  lang: "en",

  detect() {
    const q = new URLSearchParams(location.search).get("lang");
    let stored = null;
    try { stored = localStorage.getItem("aqstream.lang"); } catch (_) { /* private mode */ }
    const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
    const pick = q || stored || nav;
    this.lang = pick.toLowerCase().startsWith("zh") ? "zh" : "en";
    document.documentElement.lang = this.lang === "zh" ? "zh-CN" : "en";
    return this.lang;
  },

  set(lang) {
    this.lang = lang;
    try { localStorage.setItem("aqstream.lang", lang); } catch (_) { /* private mode */ }
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  },

  t(key, params) {
    let s = TEXTS[this.lang][key];
    if (s === undefined) s = TEXTS.en[key];
    if (s === undefined) return key;
    if (params) {
      for (const [k, v] of Object.entries(params)) s = s.split("{" + k + "}").join(String(v));
    }
    return s;
  },

  // Fills every element with data-i18n="key".
  apply(root) {
    for (const el of (root || document).querySelectorAll("[data-i18n]")) {
      el.textContent = this.t(el.dataset.i18n);
    }
  },

  // "north-east" / "东北" of a bearing in degrees.
  direction(deg) {
    const names = TEXTS[this.lang].dir;
    return names[Math.round(((deg % 360) + 360) % 360 / 45) % 8];
  },

  // Category name of an AQI category object served by /api/v1/aqi.
  categoryName(cat) {
    return this.lang === "zh" ? cat.name_zh : cat.name_en;
  },
};

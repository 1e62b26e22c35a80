"""The console's words in English and Simplified Chinese, and which one a browser gets.

The language is the ``console_lang`` cookie when the person chose one (the switch in the page
header), otherwise the first of the browser's ``Accept-Language`` that the console knows.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh_CN")
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}
LANGUAGE_COOKIE = "console_lang"

# key: (English, Simplified Chinese)
WORDS: dict[str, tuple[str, str]] = {
    "title": ("Check-in console", "签到控制台"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "username": ("Name", "用户名"),
    "password": ("Password", "密码"),
    "wrong_password": ("Wrong name or password.", "用户名或密码错误。"),
    "wait": ("Too many failed sign-ins: try again in {s} s.", "登录失败次数过多：请 {s} 秒后重试。"),
    "signed_in_as": ("Signed in as {name} ({role})", "已登录：{name}（{role}）"),
    "admin": ("admin", "管理员"),
    "staff": ("staff", "工作人员"),
    "events": ("Events", "活动"),
    "people": ("People", "人员"),
    "doors": ("Doors", "签到门"),
    "audit": ("Audit log", "审计日志"),
    "spoofs": ("Refused spoofs", "拒绝的伪造攻击"),
    "event": ("Event", "活动"),
    "name": ("Name", "姓名"),
    "external_id": ("External id", "工号"),
    "time": ("Time", "时间"),
    "door": ("Door", "签到门"),
    "how": ("How", "方式"),
    "face": ("face", "人脸"),
    "manual": ("manual", "手动"),
    "reason": ("Reason", "原因"),
    "operator": ("By", "操作人"),
    "expected": ("Expected", "应到"),
    "arrived": ("Arrived", "已到"),
    "not_yet": ("Not yet", "未到"),
    "walk_ins": ("Not on the roster", "不在名单上"),
    "arrived_list": ("Arrived", "已到人员"),
    "not_yet_list": ("Not yet arrived", "未到人员"),
    "search": ("Search", "搜索"),
    "search_hint": ("name or external id", "姓名或工号"),
    "chart": ("Arrivals over time, per door", "各签到门的到达时间分布"),
    "no_arrivals": ("No one has arrived yet.", "还没有人到达。"),
    "live": ("live", "实时"),
    "offline": ("reconnecting...", "正在重新连接..."),
    "check_in": ("Check in", "签到"),
    "manual_check_in": ("Manual check-in", "手动签到"),
    "person": ("Person", "人员"),
    "choose_person": ("choose a person", "选择人员"),
    "undo": ("Undo", "撤销"),
    "undo_reason": ("reason for the undo", "撤销原因"),
    "reason_needed": ("A reason is required.", "必须填写原因。"),
    "checked_in": ("{name} checked in.", "{name} 已签到。"),
    "already": ("{name} was checked in before.", "{name} 之前已签到。"),
    "undone": ("The check-in of {name} was undone.", "{name} 的签到已撤销。"),
    "not_checked_in": ("{name} was not checked in.", "{name} 尚未签到。"),
    "download": ("Download", "下载"),
    "window": ("Check-in window", "签到时段"),
    "opens": ("Opens", "开始"),
    "closes": ("Closes", "结束"),
    "always": ("always open", "始终开放"),
    "create_event": ("New event", "新建活动"),
    "create": ("Create", "创建"),
    "save": ("Save", "保存"),
    "close_now": ("Close now", "立即结束"),
    "event_closed": ("Event closed.", "活动已结束。"),
    "saved": ("Saved.", "已保存。"),
    "roster": ("Roster", "名单"),
    "roster_upload": ("Upload a roster (.xlsx or .csv)", "上传名单（.xlsx 或 .csv）"),
    "upload": ("Upload", "上传"),
    "roster_done": ("{n} roster entries stored.", "已保存 {n} 条名单记录。"),
    "roster_error": ("Choose a file first.", "请先选择文件。"),
    "roster_failed": ("The roster was not changed: {error}", "名单未更改：{error}"),
    "roster_size": ("{n} on the roster", "名单共 {n} 人"),
    "settings": ("Settings", "设置"),
    "no_photo": ("Choose at least one photo.", "请至少选择一张照片。"),
    "board": ("Board", "看板"),
    "open_board": ("Open the board", "打开看板"),
    "rename": ("Rename", "改名"),
    "delete": ("Delete", "删除"),
    "delete_confirm": ("Delete {name} and every picture and embedding of them?",
                       "删除 {name} 及其全部照片和特征数据？"),
    "deleted": ("{name} was deleted with every biometric byte.", "{name} 及其全部生物特征数据已删除。"),
    "enroll": ("Enrol from photos", "用照片录入"),
    "photos": ("Photos", "照片"),
    "allow_duplicate": ("Enrol even if they look like someone enrolled",
                        "即使与已录入的人相似也录入"),
    "enrolled": ("{name} was enrolled (id {id}).", "{name} 已录入（编号 {id}）。"),
    "images": ("Pictures", "照片数"),
    "key": ("Key", "密钥"),
    "role": ("Role", "角色"),
    "last_seen": ("Last contact", "最后联系"),
    "uploads": ("Check-ins uploaded", "已上传签到"),
    "last_upload": ("Last upload", "最后上传"),
    "outbox": ("Waiting in its outbox", "待上传"),
    "model": ("Model", "模型"),
    "state": ("State", "状态"),
    "online": ("online", "在线"),
    "offline_door": ("offline", "离线"),
    "never": ("never", "从未"),
    "revoked": ("revoked", "已吊销"),
    "not_reported": ("not reported", "未报告"),
    "actor": ("Who", "操作者"),
    "action": ("Action", "操作"),
    "details": ("Details", "详情"),
    "thumbnail": ("Picture", "图片"),
    "none": ("Nothing here yet.", "暂无内容。"),
    "forbidden": ("This page needs the admin role.", "此页面需要管理员角色。"),
    "not_found": ("Not found.", "未找到。"),
    "bad_form": ("The form was too old or came from another site; try again.",
                 "表单已过期或来自其他网站，请重试。"),
    "language": ("Language", "语言"),
    "count": ("{n} people", "{n} 人"),
    "showing": ("Showing {n} of {total}: search to narrow.", "显示 {total} 人中的 {n} 人：请搜索以缩小范围。"),
}


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language when it is one of :data:`LANGUAGES`, else the first language of
    ``Accept-Language`` (by its q weights) the console knows, else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(language: str):  # noqa: ANN201 - a callable
    """``_(key, **values)`` in ``language``; an unknown key (an error message that has no
    translation) is returned as it is, never used as a format string."""
    column = LANGUAGES.index(language) if language in LANGUAGES else 0

    def translate(key: str, **values: object) -> str:
        words = WORDS.get(key)
        if words is None:  # a message of its own (an error's text): shown as it is
            return key
        return words[column].format(**values) if values else words[column]

    return translate

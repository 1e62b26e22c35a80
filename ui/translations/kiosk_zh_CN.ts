<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1">
<context>
    <name>App</name>
    <message>
        <location filename="../app.py" line="184" />
        <source>Updating the gallery to the new face model: {done} of {total} images</source>
        <translation>正在将人脸库更新为新的人脸模型：已完成 {done} / {total} 张图像</translation>
    </message>
    <message>
        <location filename="../app.py" line="114" />
        <source>Face check-in</source>
        <translation>人脸签到</translation>
    </message>
    <message>
        <location filename="../app.py" line="114" />
        <source>The kiosk could not start:</source>
        <translation>签到终端无法启动：</translation>
    </message>
</context>
<context>
    <name>EnrollDialog</name>
    <message>
        <source>This kiosk is connected to the service: photos of an enrolled person are added on the service.</source>
        <translation>本终端已连接到服务：已登记人员的照片请在服务上添加。</translation>
    </message>
    <message>
        <source>The service enrols from the photos or camera pictures the faces came from; press Retake and capture or add them again.</source>
        <translation>服务需要人脸所在的照片或摄像头画面来登记；请按“重拍”后重新采集或添加照片。</translation>
    </message>
    <message>
        <source>Give the person's name.</source>
        <translation>请填写姓名。</translation>
    </message>
    <message>
        <source>Nothing was enrolled.</source>
        <translation>未登记任何人。</translation>
    </message>
    <message>
        <source>This kiosk's key may not enrol: enrolment needs an admin key of the service ([server] api_key). Nothing was enrolled.</source>
        <translation>本终端的密钥无权登记：登记需要服务的管理员密钥（[server] api_key）。未登记任何人。</translation>
    </message>
    <message>
        <source>The service refused this kiosk's key (unknown or revoked). Nothing was enrolled.</source>
        <translation>服务拒绝了本终端的密钥（未知或已吊销）。未登记任何人。</translation>
    </message>
    <message>
        <source>The service cannot be reached, so nothing was enrolled: a person enrolled only at this kiosk would never reach the other doors. Try again when the service is back.</source>
        <translation>无法连接到服务，因此未登记任何人：只在本终端登记的人员永远不会同步到其他入口。请在服务恢复后重试。</translation>
    </message>
    <message>
        <source>The service refused the enrolment: {message}</source>
        <translation>服务拒绝了登记：{message}</translation>
    </message>
    <message>
        <source>Add to the roster of {event}</source>
        <translation>加入 {event} 的名单</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="235" />
        <source>Re-enrol {name}</source>
        <translation>重新录入 {name}</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="235" />
        <source>Enrol a person</source>
        <translation>录入人员</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="242" />
        <source>No camera</source>
        <translation>无摄像头</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="454" />
        <source>Press "Capture" and look at the camera.</source>
        <translation>请点击“采集”并看摄像头。</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="259" />
        <source>Name:</source>
        <translation>姓名：</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="260" />
        <source>External id:</source>
        <translation>工号：</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="266" />
        <source>Faces to enrol:</source>
        <translation>待录入的人脸：</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="272" />
        <source>Capture from camera</source>
        <translation>从摄像头采集</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="274" />
        <source>Add photos...</source>
        <translation>添加照片...</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="275" />
        <source>Retake</source>
        <translation>重新采集</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="276" />
        <source>Save</source>
        <translation>保存</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="279" />
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="300" />
        <source>No face: look at the camera</source>
        <translation>未检测到人脸：请看摄像头</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="301" />
        <source>One person at a time, please</source>
        <translation>请一次一人</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="302" />
        <source>Move closer</source>
        <translation>请靠近一些</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="303" />
        <source>Too dark: face the light</source>
        <translation>太暗：请面向光源</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="304" />
        <source>Too bright</source>
        <translation>太亮</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="305" />
        <source>Look at the camera, eyes open</source>
        <translation>请睁眼看摄像头</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="306" />
        <source>Hold still (picture blurred)</source>
        <translation>请保持不动（画面模糊）</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="307" />
        <source>Face the camera straight on</source>
        <translation>请正对摄像头</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="309" />
        <source>Good - hold on...</source>
        <translation>很好 - 请稍候...</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="330" />
        <source>Look at the camera...</source>
        <translation>请看摄像头...</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="361" />
        <source>Photo or screen detected - capture refused</source>
        <translation>检测到照片或屏幕 - 拒绝采集</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="363" />
        <source>Liveness not confirmed - please retake</source>
        <translation>未通过活体检测 - 请重新采集</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="365" />
        <source>Done - check the faces and save</source>
        <translation>完成 - 请检查人脸后保存</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="381" />
        <source>Photos of the person</source>
        <translation>此人的照片</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="381" />
        <source>Images (*.jpg *.jpeg *.png *.bmp)</source>
        <translation>图片 (*.jpg *.jpeg *.png *.bmp)</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="421" />
        <source>Photos refused</source>
        <translation>被拒绝的照片</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="438" />
        <source>Warning: this face already matches {name} (id {id}, distance {distance:.2f}).</source>
        <translation>警告：此人脸已与 {name} 匹配（编号 {id}，距离 {distance:.2f}）。</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="486" />
        <source>Enrol</source>
        <translation>录入</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="466" />
        <source>These faces look like {name}. Enrol anyway?</source>
        <translation>这些人脸与 {name} 相似。仍要录入吗？</translation>
    </message>
</context>
<context>
    <name>EventsDialog</name>
    <message>
        <location filename="../settings_dialog.py" line="183" />
        <source>Events</source>
        <translation>会议</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="129" />
        <source>New event name:</source>
        <translation>新会议名称：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="130" />
        <source>Check-in window (otherwise open all day)</source>
        <translation>签到时间段（否则全天开放）</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="138" />
        <source>Opens:</source>
        <translation>开始：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="139" />
        <source>Closes:</source>
        <translation>结束：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="142" />
        <source>Create</source>
        <translation>创建</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="147" />
        <source>Use selected event</source>
        <translation>使用所选会议</translation>
    </message>
</context>
<context>
    <name>FolderEnrollDialog</name>
    <message>
        <location filename="../enroll_dialog.py" line="520" />
        <source>Enrol a folder of photos</source>
        <translation>批量录入照片文件夹</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="523" />
        <source>Photos named by external id (E001.jpg, E001_2.jpg). Names come from an imported roster; otherwise the external id is the name.</source>
        <translation>照片以工号命名（E001.jpg、E001_2.jpg）。姓名取自已导入的名单；否则以工号作为姓名。</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="528" />
        <source>Choose...</source>
        <translation>选择...</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="541" />
        <source>Start</source>
        <translation>开始</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="543" />
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="553" />
        <source>Folder of photos</source>
        <translation>照片文件夹</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="565" />
        <source>Choose a folder first.</source>
        <translation>请先选择文件夹。</translation>
    </message>
    <message>
        <location filename="../enroll_dialog.py" line="602" />
        <source>{people} people enrolled from {total} photos; {refused} photos refused.</source>
        <translation>从 {total} 张照片录入 {people} 人；{refused} 张照片被拒绝。</translation>
    </message>
</context>
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../main_window.py" line="182" />
        <source>Face check-in</source>
        <translation>人脸签到</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="190" />
        <source>Starting the camera...</source>
        <translation>正在启动摄像头...</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="261" />
        <source>camera: {state} | picture {fps:.0f} fps</source>
        <translation>摄像头：{state} | 画面 {fps:.0f} 帧/秒</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="287" />
        <source>error: {message}</source>
        <translation>错误：{message}</translation>
    </message>
</context>
<context>
    <name>ManualCheckInDialog</name>
    <message>
        <location filename="../staff_panel.py" line="42" />
        <source>Manual check-in</source>
        <translation>手动签到</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="52" />
        <source>Person:</source>
        <translation>人员：</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="54" />
        <source>e.g. face not recognised, glasses</source>
        <translation>例如：未能识别、戴眼镜</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="55" />
        <source>Reason:</source>
        <translation>原因：</translation>
    </message>
</context>
<context>
    <name>PasswordDialog</name>
    <message>
        <source>Too many wrong attempts. Try again in {seconds} s.</source>
        <translation>错误次数过多，请 {seconds} 秒后再试。</translation>
    </message>
    <message>
        <source>Staff</source>
        <translation>工作人员</translation>
    </message>
    <message>
        <source>No staff PIN is set, so the staff panel stays closed. On this PC, run:  ./run.sh staff set-pin  (or ./run.sh admin set-password)</source>
        <translation>尚未设置工作人员 PIN，工作人员面板保持关闭。请在本机运行：  ./run.sh staff set-pin  （或 ./run.sh admin set-password）</translation>
    </message>
    <message>
        <source>No admin password is set, so the admin screens stay closed. On this PC, run:  ./run.sh admin set-password</source>
        <translation>尚未设置管理员密码，管理界面保持关闭。请在本机运行：  ./run.sh admin set-password</translation>
    </message>
    <message>
        <source>Enter the staff PIN (or the admin password).</source>
        <translation>请输入工作人员 PIN（或管理员密码）。</translation>
    </message>
    <message>
        <location filename="../admin_login.py" line="64" />
        <source>Admin</source>
        <translation>管理</translation>
    </message>
    <message>
        <location filename="../admin_login.py" line="26" />
        <source>Enter the admin password.</source>
        <translation>请输入管理员密码。</translation>
    </message>
    <message>
        <location filename="../admin_login.py" line="33" />
        <source>Password:</source>
        <translation>密码：</translation>
    </message>
    <message>
        <location filename="../admin_login.py" line="64" />
        <source>Wrong password.</source>
        <translation>密码错误。</translation>
    </message>
</context>
<context>
    <name>PeopleDialog</name>
    <message>
        <location filename="../people_dialog.py" line="34" />
        <source>People</source>
        <translation>人员</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="38" />
        <source>Search name or id...</source>
        <translation>搜索姓名或工号...</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="43" />
        <source>Name</source>
        <translation>姓名</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="43" />
        <source>External id</source>
        <translation>工号</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="43" />
        <source>Images</source>
        <translation>图像数</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="43" />
        <source>Person id</source>
        <translation>人员编号</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="52" />
        <source>Rename...</source>
        <translation>改名...</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="53" />
        <source>Re-enrol...</source>
        <translation>重新录入...</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="54" />
        <source>Delete...</source>
        <translation>删除...</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="55" />
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="113" />
        <source>Rename</source>
        <translation>改名</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="107" />
        <source>New name:</source>
        <translation>新姓名：</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="145" />
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <location filename="../people_dialog.py" line="136" />
        <source>Delete {name} and all their face images and check-ins? This cannot be undone.</source>
        <translation>删除 {name} 及其全部人脸图像和签到记录？此操作无法撤销。</translation>
    </message>
</context>
<context>
    <name>ServerLink</name>
    <message>
        <source>server: connected, last sync {time}</source>
        <translation>服务器：已连接，上次同步 {time}</translation>
    </message>
    <message>
        <source>offline: {count} check-ins waiting</source>
        <translation>离线：{count} 条签到等待上传</translation>
    </message>
    <message>
        <source>server refused this kiosk's key - check [server] api_key</source>
        <translation>服务器拒绝了本终端的密钥 - 请检查 [server] api_key</translation>
    </message>
    <message>
        <source>server: sync failed - {message}</source>
        <translation>服务器：同步失败 - {message}</translation>
    </message>
    <message>
        <source>server: connecting...</source>
        <translation>服务器：正在连接...</translation>
    </message>
    <message>
        <source>; {count} refused by the server - see the staff panel</source>
        <translation>；{count} 条被服务器拒绝 - 请在工作人员界面查看</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>A face is taken for a person only when its distance to them is below this number. Lower is stricter: more attendees are refused, fewer are taken for someone else. A refused attendee can try again or be checked in by staff; a wrong name cannot be undone.</source>
        <translation>只有当人脸与某人的距离低于此数值时，才会被认作此人。数值越低越严格：被拒绝的参会者更多，被认错的更少。被拒绝的参会者可以重试或由工作人员签到；认错的名字无法撤销。</translation>
    </message>
    <message>
        <source>Match threshold (FaceNet distance):</source>
        <translation>匹配阈值（FaceNet 距离）：</translation>
    </message>
    <message>
        <source>Match threshold (fused distance):</source>
        <translation>匹配阈值（融合距离）：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="110" />
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="38" />
        <source>Camera source (index, rtsp:// URL or file):</source>
        <translation>摄像头来源（编号、rtsp:// 地址或文件）：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="48" />
        <source>Minimum margin to the next person:</source>
        <translation>与次近人员的最小差距：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="52" />
        <source>Frames that must agree:</source>
        <translation>需一致的帧数：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="56" />
        <source>Smallest face (pixels):</source>
        <translation>最小人脸（像素）：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="57" />
        <source>Liveness check (refuse photos and screens)</source>
        <translation>活体检测（拒绝照片和屏幕）</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="65" />
        <source>Language:</source>
        <translation>语言：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="66" />
        <source>Start in full screen (kiosk mode)</source>
        <translation>全屏启动（自助终端模式）</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="72" />
        <source>Banner shown for (s):</source>
        <translation>提示显示时长（秒）：</translation>
    </message>
    <message>
        <location filename="../settings_dialog.py" line="73" />
        <source>Camera and threshold changes apply after a restart.</source>
        <translation>摄像头和阈值的更改在重启后生效。</translation>
    </message>
</context>
<context>
    <name>StaffPanelWidget</name>
    <message>
        <source>Refused by the service</source>
        <translation>服务拒绝的原因</translation>
    </message>
    <message>
        <source>Refused by the service ({count})</source>
        <translation>被服务拒绝 ({count})</translation>
    </message>
    <message>
        <source>undo</source>
        <translation>撤销</translation>
    </message>
    <message>
        <source>(deleted)</source>
        <translation>（已删除）</translation>
    </message>
    <message>
        <source>Door</source>
        <translation>入口</translation>
    </message>
    <message>
        <source>All doors (from the service)</source>
        <translation>所有入口（来自服务）</translation>
    </message>
    <message>
        <source>Offline, this door only: the service cannot be reached right now</source>
        <translation>离线，仅本入口：目前无法连接到服务</translation>
    </message>
    <message>
        <source>this door</source>
        <translation>本入口</translation>
    </message>
    <message>
        <source>this door (not uploaded yet)</source>
        <translation>本入口（尚未上传）</translation>
    </message>
    <message>
        <source>{name} exists (an earlier export). Replace it?</source>
        <translation>{name} 已存在（之前的导出）。要替换吗？</translation>
    </message>
    <message>
        <source>Rosters (*.xlsx *.csv)</source>
        <translation>名单 (*.xlsx *.csv)</translation>
    </message>
    <message>
        <source>Export...</source>
        <translation>导出...</translation>
    </message>
    <message>
        <source>Expected {expected} | Arrived {arrived_expected} of {expected} | Not yet arrived {missing} | Not on the roster {walk_ins}</source>
        <translation>应到 {expected} | 已到 {arrived_expected}/{expected} | 未到 {missing} | 名单外 {walk_ins}</translation>
    </message>
    <message>
        <source>Excel workbook (*.xlsx);;CSV for Excel (*.csv)</source>
        <translation>Excel 工作簿 (*.xlsx);;Excel 用 CSV (*.csv)</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="96" />
        <source>Staff - {event}</source>
        <translation>工作人员 - {event}</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="96" />
        <source>no event</source>
        <translation>无会议</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="99" />
        <source>No event is open</source>
        <translation>当前没有会议</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="106" />
        <source>Search name or id...</source>
        <translation>搜索姓名或工号...</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="114" />
        <source>Name</source>
        <translation>姓名</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="114" />
        <source>ID</source>
        <translation>工号</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="112" />
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="112" />
        <source>How</source>
        <translation>方式</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="112" />
        <source>Reason</source>
        <translation>原因</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="125" />
        <source>Manual check-in...</source>
        <translation>手动签到...</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="126" />
        <source>Undo check-in...</source>
        <translation>撤销签到...</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="127" />
        <source>Import roster...</source>
        <translation>导入名单...</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="158" />
        <source>Choose an event in Admin &gt; Events.</source>
        <translation>请在 管理 &gt; 会议 中选择会议。</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="179" />
        <source>face</source>
        <translation>人脸</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="179" />
        <source>manual</source>
        <translation>手动</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="197" />
        <source>Arrived ({count})</source>
        <translation>已到 ({count})</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="198" />
        <source>Not yet arrived ({count})</source>
        <translation>未到 ({count})</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="211" />
        <source>Refused spoof attempts ({count})</source>
        <translation>拒绝的假冒尝试 ({count})</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="283" />
        <source>Manual check-in</source>
        <translation>手动签到</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="275" />
        <source>Choose a person and give a reason.</source>
        <translation>请选择人员并填写原因。</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="280" />
        <source>This person was already checked in.</source>
        <translation>此人已签到。</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="299" />
        <source>Undo check-in</source>
        <translation>撤销签到</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="290" />
        <source>Select a person in the Arrived list first.</source>
        <translation>请先在“已到”列表中选择人员。</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="294" />
        <source>Reason:</source>
        <translation>原因：</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="313" />
        <source>Import roster</source>
        <translation>导入名单</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="313" />
        <source>{count} people on the roster.</source>
        <translation>名单共 {count} 人。</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="328" />
        <source>Export attendance</source>
        <translation>导出签到表</translation>
    </message>
    <message>
        <location filename="../staff_panel.py" line="328" />
        <source>{count} rows written.</source>
        <translation>已写入 {count} 行。</translation>
    </message>
</context>
<context>
    <name>AdminMenu</name>
    <message>
        <source>Admin</source>
        <translation>管理</translation>
    </message>
    <message>
        <source>Enrol a folder of photos...</source>
        <translation>批量录入照片文件夹...</translation>
    </message>
    <message>
        <source>Enrol a person...</source>
        <translation>录入人员...</translation>
    </message>
    <message>
        <source>Events...</source>
        <translation>会议...</translation>
    </message>
    <message>
        <source>Face check-in</source>
        <translation>人脸签到</translation>
    </message>
    <message>
        <source>People...</source>
        <translation>人员...</translation>
    </message>
    <message>
        <source>Settings...</source>
        <translation>设置...</translation>
    </message>
    <message>
        <source>Staff</source>
        <translation>工作人员</translation>
    </message>
    <message>
        <source>The face models are still loading. Try again in a few seconds.</source>
        <translation>人脸模型仍在加载，请几秒钟后再试。</translation>
    </message>
    <message>
        <source>This kiosk is connected to the service: enrol people one by one with &quot;Enrol a person...&quot; (they reach every door), or with enroll / enroll-folder --server on the command line; people are deleted through the service&apos;s API.</source>
        <translation>本终端已连接到服务：请用“登记一个人...”逐个登记人员（所有入口都能识别），或在命令行使用 enroll / enroll-folder --server；删除人员请通过服务的 API 进行。</translation>
    </message>
</context>
<context>
    <name>AttendeeText</name>
    <message>
        <source>Check-in closed (closed at {time})</source>
        <translation>签到已结束（{time} 截止）</translation>
    </message>
    <message>
        <source>Check-in could not be saved - please see staff</source>
        <translation>签到未能保存 - 请联系工作人员</translation>
    </message>
    <message>
        <source>Check-in opens at {time}</source>
        <translation>签到将于 {time} 开始</translation>
    </message>
    <message>
        <source>Face recognition could not start - please see staff</source>
        <translation>人脸识别无法启动 - 请联系工作人员</translation>
    </message>
    <message>
        <source>Hello, {name} - no event is open for check-in</source>
        <translation>您好，{name} - 当前没有可签到的会议</translation>
    </message>
    <message>
        <source>Hold on, checking...</source>
        <translation>请稍候，正在识别...</translation>
    </message>
    <message>
        <source>Not recognised - please see staff</source>
        <translation>未能识别 - 请联系工作人员</translation>
    </message>
    <message>
        <source>Photo or screen detected - check-in refused</source>
        <translation>检测到照片或屏幕 - 拒绝签到</translation>
    </message>
    <message>
        <source>Please look at the camera</source>
        <translation>请看摄像头</translation>
    </message>
    <message>
        <source>Please look at the camera to check in</source>
        <translation>请看摄像头进行签到</translation>
    </message>
    <message>
        <source>Please move closer</source>
        <translation>请靠近一些</translation>
    </message>
    <message>
        <source>Please turn your head to your left</source>
        <translation>请把头转向您的左边</translation>
    </message>
    <message>
        <source>Please turn your head to your right</source>
        <translation>请把头转向您的右边</translation>
    </message>
    <message>
        <source>Time is up - please step back, then come forward again (or ask the staff)</source>
        <translation>时间到了 - 请先后退一步，再重新走近（或联系工作人员）</translation>
    </message>
    <message>
        <source>Not confirmed - please step back, then come forward again (or ask the staff)</source>
        <translation>未能确认 - 请先后退一步，再重新走近（或联系工作人员）</translation>
    </message>
    <message>
        <source>Please see staff</source>
        <translation>请联系工作人员</translation>
    </message>
    <message>
        <source>Starting... face recognition is loading</source>
        <translation>正在启动……人脸识别加载中</translation>
    </message>
    <message>
        <source>Too dark - please face the light</source>
        <translation>太暗 - 请面向光源</translation>
    </message>
    <message>
        <source>Welcome, {name} - already checked in at {time}</source>
        <translation>欢迎，{name} - 您已于 {time} 签到</translation>
    </message>
    <message>
        <source>Welcome, {name} - checked in {time}</source>
        <translation>欢迎，{name} - {time} 签到成功</translation>
    </message>
    <message>
        <source>check-in closed at {time}</source>
        <translation>签到已于 {time} 结束</translation>
    </message>
    <message>
        <source>check-in opens at {time}</source>
        <translation>签到将于 {time} 开始</translation>
    </message>
    <message>
        <source>no event is open</source>
        <translation>当前没有开放的活动</translation>
    </message>
    <message>
        <source>{name}: check-in is not open now ({detail})</source>
        <translation>{name}：当前不在签到时间（{detail}）</translation>
    </message>
</context>
<context>
    <name>CameraWatch</name>
    <message>
        <source>Camera not found: {device} - check the cable or [camera] source in settings</source>
        <translation>未找到摄像头：{device} - 请检查连接线或设置中的 [camera] source</translation>
    </message>
    <message>
        <source>Camera source not valid: {source} - check [camera] source in settings</source>
        <translation>摄像头来源无效：{source} - 请检查设置中的 [camera] source</translation>
    </message>
    <message>
        <source>Camera {device} cannot be opened - is another program using it?</source>
        <translation>无法打开摄像头 {device} - 是否有其他程序正在使用？</translation>
    </message>
    <message>
        <source>No picture from the camera stream {url} - check the network and [camera] source in settings</source>
        <translation>摄像头视频流 {url} 没有画面 - 请检查网络和设置中的 [camera] source</translation>
    </message>
    <message>
        <source>The video file has ended: {path}</source>
        <translation>视频文件已播放完毕：{path}</translation>
    </message>
    <message>
        <source>Video file cannot be read: {path}</source>
        <translation>无法读取视频文件：{path}</translation>
    </message>
    <message>
        <source>Video file not found: {path} - check [camera] source in settings</source>
        <translation>未找到视频文件：{path} - 请检查设置中的 [camera] source</translation>
    </message>
    <message>
        <source>connecting</source>
        <translation>连接中</translation>
    </message>
    <message>
        <source>live</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>lost</source>
        <translation>已断开</translation>
    </message>
    <message>
        <source>reconnecting</source>
        <translation>重新连接中</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>已停止</translation>
    </message>
</context>
<context>
    <name>TopBar</name>
    <message>
        <source>No event open - recognition only</source>
        <translation>当前没有会议 - 仅识别</translation>
    </message>
</context>
</TS>
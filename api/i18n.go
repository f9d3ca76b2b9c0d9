package api

import (
	"golang.org/x/text/language"
)

// Lang is a panel language: Vietnamese (the floor's, and the default) or
// English.
type Lang string

const (
	LangVI Lang = "vi"
	LangEN Lang = "en"
)

func (l Lang) valid() bool { return l == LangVI || l == LangEN }

// ParseLang checks a language code.
func ParseLang(s string) (Lang, bool) { return Lang(s), Lang(s).valid() }

var matcher = language.NewMatcher([]language.Tag{language.Vietnamese, language.English})

// negotiate picks the language for someone not logged in from the
// browser's Accept-Language (RFC 9110 §12.5.4); Vietnamese when nothing
// matches.
func negotiate(accept string) Lang {
	tags, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(tags) == 0 {
		return LangVI
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No || i != 1 {
		return LangVI
	}
	return LangEN
}

// T translates a catalogue key. A key missing from the catalogue shows as
// ⟦key⟧ (the tests render every page in both languages and look for it).
func T(l Lang, key string) string {
	m, ok := catalog[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if l == LangEN {
		return m[1]
	}
	return m[0]
}

func hasKey(key string) bool { _, ok := catalog[key]; return ok }

// catalog holds every label of the panel: {Vietnamese, English}.
var catalog = map[string][2]string{
	"app.name":   {"Trạm cá thể hóa thẻ CCCD", "CCCD personalization station"},
	"app.footer": {"Trạm cá thể hóa thẻ Căn cước công dân", "Citizen ID card personalization station"},

	"nav.overview":     {"Tổng quan", "Overview"},
	"nav.applications": {"Hồ sơ", "Applications"},
	"nav.cards":        {"Thẻ hỏng", "Spoiled cards"},
	"nav.audit":        {"Nhật ký kiểm toán", "Audit log"},
	"nav.config":       {"Cấu hình", "Configuration"},
	"nav.users":        {"Tài khoản", "Users"},
	"nav.logout":       {"Đăng xuất", "Log out"},
	"lang.switch":      {"English", "Tiếng Việt"},
	"live.on":          {"Đang cập nhật trực tiếp", "Live"},
	"live.off":         {"Mất kết nối — đang kết nối lại…", "Disconnected — reconnecting…"},

	"login.title":     {"Đăng nhập", "Log in"},
	"login.user":      {"Tên đăng nhập", "User name"},
	"login.password":  {"Mật khẩu", "Password"},
	"login.submit":    {"Đăng nhập", "Log in"},
	"login.failed":    {"Đăng nhập không thành công. Sau 5 lần sai liên tiếp, máy này bị tạm khóa đăng nhập vào tài khoản đó trong 15 phút.", "Login failed. After 5 failures in a row, this computer may not log in to that account for 15 minutes."},
	"login.expired":   {"Biểu mẫu đăng nhập đã hết hạn, vui lòng thử lại.", "The login form expired; please try again."},
	"login.throttled": {"Quá nhiều lần thử từ máy này. Vui lòng đợi một phút.", "Too many attempts from this computer. Wait a minute."},

	"overview.title":            {"Tổng quan trạm", "Station overview"},
	"overview.issued_hour":      {"Thẻ đã cấp trong giờ qua", "Cards issued in the last hour"},
	"overview.waiting":          {"Hồ sơ đang chờ", "Applications waiting"},
	"overview.readers_up":       {"Đầu đọc hoạt động", "Readers up"},
	"overview.signer":           {"Khóa ký tài liệu (DS)", "Document Signer"},
	"overview.signer_ok":        {"Sẵn sàng", "Ready"},
	"overview.signer_down":      {"Lỗi", "Down"},
	"overview.ds_ends":          {"Chứng thư DS hết hạn ký ngày", "DS certificate can sign until"},
	"overview.ds_soon":          {"sắp hết hạn: cần gia hạn", "ends soon: renew it"},
	"overview.ds_outliving":     {"Thẻ có hạn dài hơn chứng thư DS", "Documents outliving the DS certificate"},
	"overview.ds_no_expiry":     {"không thời hạn", "without expiry"},
	"overview.store":            {"Cơ sở dữ liệu", "Job store"},
	"overview.store_ok":         {"Ghi được", "Writing"},
	"overview.store_unwritable": {"Không ghi được: dừng cấp thẻ", "Cannot write: issuance stopped"},
	"overview.store_low":        {"Sắp hết dung lượng: dừng nhận thẻ", "Low disk space: no card claimed"},
	"overview.store_free":       {"Còn trống", "Free"},
	"overview.holding":          {"Đầu đọc đang giữ thẻ chưa ghi nhận được kết quả (không lấy thẻ ra)", "Readers holding a card whose outcome is not yet recorded (do not take it out)"},
	"overview.intake":           {"Nhận việc mới", "New work"},
	"overview.working":          {"Đang nhận", "Taking work"},
	"overview.draining":         {"Đã dừng nhận (bảo trì)", "Drained (maintenance)"},
	"overview.drain":            {"Dừng nhận việc để bảo trì", "Drain for maintenance"},
	"overview.undrain":          {"Nhận việc trở lại", "Take work again"},
	"overview.drain_confirm":    {"Dừng nhận việc mới? Các thẻ đang làm sẽ được hoàn tất.", "Stop taking new work? Cards in progress will finish."},
	"overview.pcsc":             {"Dịch vụ đầu đọc (PC/SC)", "Reader service (PC/SC)"},
	"overview.readers":          {"Đầu đọc", "Readers"},
	"overview.no_readers":       {"Không có đầu đọc nào.", "No readers."},
	"overview.queue":            {"Hàng đợi theo trạng thái", "Queue by state"},
	"overview.queue_unknown":    {"Không đọc được số liệu hàng đợi.", "The queue counts could not be read."},

	"reader.name":          {"Đầu đọc", "Reader"},
	"reader.state":         {"Trạng thái", "State"},
	"reader.card":          {"Thẻ trong đầu đọc", "Card in it"},
	"reader.application":   {"Hồ sơ đang làm", "Application"},
	"reader.issued_hour":   {"Cấp trong giờ qua", "Issued, last hour"},
	"reader.issued_total":  {"Tổng đã cấp", "Issued"},
	"reader.spoiled_total": {"Hỏng", "Spoiled"},
	"reader.last_error":    {"Lỗi gần nhất", "Last error"},
	"reader.pause":         {"Tạm dừng", "Pause"},
	"reader.resume":        {"Tiếp tục", "Resume"},
	"reader.waiting_card":  {"Chờ thẻ trắng", "Waiting for a card"},
	"reader.waiting_work":  {"Chờ hồ sơ", "Waiting for work"},
	"reader.personalizing": {"Đang ghi thẻ", "Personalizing"},
	"reader.verifying":     {"Đang kiểm tra thẻ", "Verifying"},
	"reader.remove_card":   {"Lấy thẻ ra", "Remove the card"},
	"reader.paused":        {"Đang tạm dừng", "Paused"},
	"reader.error":         {"Lỗi", "Error"},
	"reader.recovering":    {"Đang khôi phục", "Recovering"},
	"reader.holding_card":  {"Giữ thẻ: chưa ghi nhận được", "Holding the card: not recorded"},
	"reader.stopped":       {"Đã dừng", "Stopped"},

	"state.validated":       {"Đã kiểm tra", "Validated"},
	"state.prepared":        {"Sẵn sàng ghi", "Prepared"},
	"state.personalizing":   {"Đang ghi thẻ", "Personalizing"},
	"state.verifying":       {"Đang kiểm tra thẻ", "Verifying"},
	"state.issued":          {"Đã cấp", "Issued"},
	"state.acknowledged":    {"Trung tâm đã xác nhận", "Acknowledged"},
	"state.purged":          {"Đã xóa dữ liệu", "Purged"},
	"state.rejected":        {"Bị từ chối", "Rejected"},
	"state.cancelled":       {"Đã hủy", "Cancelled"},
	"state.needs_attention": {"Cần xử lý", "Needs attention"},

	"card.claimed":  {"Đã nhận", "Claimed"},
	"card.writing":  {"Đang ghi", "Writing"},
	"card.locked":   {"Đã khóa", "Locked"},
	"card.verified": {"Đạt", "Verified"},
	"card.spoiled":  {"Hỏng", "Spoiled"},
	"card.released": {"Trả lại (còn trắng)", "Released (blank)"},

	"role.central":    {"Hệ thống trung tâm", "Central system"},
	"role.operator":   {"Vận hành", "Operator"},
	"role.technician": {"Kỹ thuật viên", "Technician"},
	"role.auditor":    {"Kiểm toán viên", "Auditor"},
	"role.admin":      {"Quản trị", "Administrator"},

	"applications.title":     {"Hồ sơ", "Applications"},
	"applications.id":        {"Mã hồ sơ", "Application ID"},
	"applications.id_prefix": {"Mã hoặc phần đầu của mã", "ID or its beginning"},
	"applications.state":     {"Trạng thái", "State"},
	"applications.any_state": {"Mọi trạng thái", "Any state"},
	"applications.search":    {"Tìm", "Search"},
	"applications.total":     {"Số hồ sơ tìm thấy", "Applications found"},
	"applications.attempts":  {"Số lần thử", "Attempts"},
	"applications.received":  {"Nhận lúc", "Received"},
	"applications.updated":   {"Cập nhật lúc", "Updated"},
	"applications.none":      {"Không có hồ sơ nào.", "No applications."},
	"applications.bad_query": {"Mã hồ sơ chỉ gồm chữ, số và . _ : -", "An application ID holds only letters, digits and . _ : -"},

	"application.title":          {"Hồ sơ", "Application"},
	"application.batch":          {"Lô", "Batch"},
	"application.reason":         {"Lý do", "Reason"},
	"application.problems":       {"Lỗi dữ liệu", "Problems"},
	"application.purge_after":    {"Xóa dữ liệu sau", "Purge after"},
	"application.retry":          {"Thử lại", "Retry"},
	"application.cancel":         {"Hủy hồ sơ", "Cancel the application"},
	"application.cancel_confirm": {"Hủy hồ sơ này? Trung tâm sẽ được thông báo.", "Cancel this application? Central will be told."},
	"application.cards":          {"Thẻ đã dùng", "Cards"},
	"application.no_cards":       {"Chưa dùng thẻ nào.", "No card used yet."},

	"person.title":          {"Thông tin cá nhân", "Personal data"},
	"person.full_name":      {"Họ, chữ đệm và tên", "Full name"},
	"person.personal_id":    {"Số định danh cá nhân", "Personal ID number"},
	"person.date_of_birth":  {"Ngày sinh", "Date of birth"},
	"person.sex":            {"Giới tính", "Sex"},
	"person.nationality":    {"Quốc tịch", "Nationality"},
	"person.ethnicity":      {"Dân tộc", "Ethnicity"},
	"person.origin":         {"Quê quán", "Place of origin"},
	"person.residence":      {"Nơi thường trú", "Place of residence"},
	"person.issue_date":     {"Ngày cấp", "Issue date"},
	"person.expiry_date":    {"Có giá trị đến", "Valid until"},
	"person.face":           {"Ảnh chân dung", "Face"},
	"person.unmask":         {"Xem đầy đủ", "Show in full"},
	"person.unmask_audited": {"Mỗi lần xem đều được ghi vào nhật ký.", "Every view is written to the audit log."},
	"person.masked_role":    {"Vai trò của bạn chỉ xem được thông tin đã che.", "Your role sees masked data only."},
	"person.shown_audited":  {"Lần xem này đã được ghi vào nhật ký.", "This view was written to the audit log."},
	"person.purged":         {"Dữ liệu cá nhân đã được xóa.", "The personal data has been purged."},

	"cards.title":             {"Thẻ hỏng", "Spoiled cards"},
	"cards.explain":           {"Thẻ hỏng phải được hủy. Xác nhận sau khi đã hủy thẻ.", "Spoiled cards must be destroyed. Confirm each one once it is destroyed."},
	"cards.serial":            {"Số sê-ri", "Serial"},
	"cards.reason":            {"Lý do", "Reason"},
	"cards.when":              {"Thời điểm", "When"},
	"cards.reader":            {"Đầu đọc", "Reader"},
	"cards.state":             {"Trạng thái", "State"},
	"cards.attempt":           {"Lần", "Attempt"},
	"cards.claimed":           {"Bắt đầu", "Started"},
	"cards.finished":          {"Kết thúc", "Finished"},
	"cards.destroyed":         {"Đã hủy", "Destroyed"},
	"cards.destroyed_by":      {"Đã hủy bởi", "Destroyed by"},
	"cards.confirm_destroyed": {"Xác nhận đã hủy thẻ", "Confirm destroyed"},
	"cards.not_destroyed":     {"Chưa hủy", "Not destroyed"},
	"cards.none":              {"Không có thẻ hỏng.", "No spoiled cards."},

	"audit.title":           {"Nhật ký kiểm toán", "Audit log"},
	"audit.verify":          {"Kiểm tra chuỗi nhật ký", "Verify the chain"},
	"audit.chain_ok":        {"Chuỗi nhật ký nguyên vẹn", "The chain is intact"},
	"audit.chain_bad":       {"Chuỗi nhật ký có vấn đề", "The chain has problems"},
	"audit.entries_checked": {"Số mục đã kiểm tra", "Entries checked"},
	"audit.head":            {"Mục cuối", "Head"},
	"audit.actor":           {"Người thực hiện", "Actor"},
	"audit.action":          {"Hành động", "Action"},
	"audit.subject":         {"Đối tượng", "Subject"},
	"audit.detail":          {"Chi tiết", "Detail"},
	"audit.at":              {"Thời điểm", "Time"},
	"audit.hash":            {"Mã băm", "Hash"},
	"audit.filter":          {"Lọc", "Filter"},
	"audit.none":            {"Không có mục nào.", "No entries."},

	"config.title":   {"Cấu hình", "Configuration"},
	"config.explain": {"Cấu hình của trạm đang chạy. Các giá trị bí mật đã được ẩn.", "The running station's configuration. Secrets are hidden."},
	"config.none":    {"Không có thông tin cấu hình.", "No configuration was given."},

	"users.title":        {"Tài khoản", "Users"},
	"users.name":         {"Tên đăng nhập", "User name"},
	"users.role":         {"Vai trò", "Role"},
	"users.lang":         {"Ngôn ngữ", "Language"},
	"users.status":       {"Tình trạng", "Status"},
	"users.created":      {"Tạo lúc", "Created"},
	"users.active":       {"Hoạt động", "Active"},
	"users.disabled":     {"Đã vô hiệu hóa", "Disabled"},
	"users.locked":       {"Tạm khóa", "Locked"},
	"users.enable":       {"Kích hoạt", "Enable"},
	"users.disable":      {"Vô hiệu hóa", "Disable"},
	"users.new_password": {"Mật khẩu mới", "New password"},
	"users.set_password": {"Đặt mật khẩu", "Set the password"},
	"users.add":          {"Thêm tài khoản", "Add a user"},

	"pages.next": {"Trang sau", "Next"},
	"pages.prev": {"Trang trước", "Previous"},

	"msg.reader_pause":       {"Đã tạm dừng đầu đọc.", "The reader is paused."},
	"msg.reader_resume":      {"Đầu đọc đã hoạt động trở lại.", "The reader is working again."},
	"msg.drain_on":           {"Trạm đã dừng nhận việc mới.", "The station takes no new work."},
	"msg.drain_off":          {"Trạm đã nhận việc trở lại.", "The station takes work again."},
	"msg.retry_done":         {"Hồ sơ đã được đưa lại vào hàng đợi.", "The application is queued again."},
	"msg.retry_refused":      {"Không thể thử lại hồ sơ ở trạng thái này.", "The application cannot be retried in this state."},
	"msg.cancel_done":        {"Hồ sơ đã được hủy.", "The application is cancelled."},
	"msg.cancel_refused":     {"Quá muộn để hủy: thẻ đã được ghi.", "Too late to cancel: a card is being or has been written."},
	"msg.destroyed_done":     {"Đã ghi nhận thẻ bị hủy.", "The card is recorded as destroyed."},
	"msg.destroyed_refused":  {"Thẻ này không phải thẻ hỏng.", "This card is not a spoiled card."},
	"msg.user_added":         {"Đã thêm tài khoản.", "The user is added."},
	"msg.user_exists":        {"Tên đăng nhập đã tồn tại.", "That user name is taken."},
	"msg.user_bad_name":      {"Tên đăng nhập: 1–32 ký tự, chữ thường, số, '.', '_', '-'.", "User name: 1–32 characters: lower-case letters, digits, '.', '_', '-'."},
	"msg.user_bad_role":      {"Vai trò không hợp lệ.", "Unknown role."},
	"msg.user_weak_password": {"Mật khẩu phải có từ 12 đến 256 ký tự.", "A password has 12 to 256 characters."},
	"msg.user_unknown":       {"Không có tài khoản này.", "No such user."},
	"msg.user_self":          {"Không thể tự vô hiệu hóa tài khoản của mình.", "You cannot disable your own account."},
	"msg.user_disable":       {"Đã vô hiệu hóa tài khoản.", "The user is disabled."},
	"msg.user_enable":        {"Đã kích hoạt tài khoản.", "The user is enabled."},
	"msg.user_password":      {"Đã đặt mật khẩu mới.", "The password is set."},

	"error.title":                    {"Lỗi", "Error"},
	"error.back":                     {"Về trang tổng quan", "Back to the overview"},
	"error.bad_request":              {"Yêu cầu không hợp lệ.", "Bad request."},
	"error.malformed_json":           {"Dữ liệu JSON không hợp lệ.", "Malformed JSON."},
	"error.unknown_field":            {"Yêu cầu có trường không được hỗ trợ.", "The request has a field it does not take."},
	"error.missing_application_id":   {"Thiếu mã hồ sơ.", "No application ID."},
	"error.duplicate_application_id": {"Mã hồ sơ bị lặp.", "An application ID appears twice."},
	"error.empty_batch":              {"Lô rỗng.", "The batch is empty."},
	"error.batch_too_large":          {"Lô quá lớn.", "The batch is too large."},
	"error.body_too_large":           {"Dữ liệu gửi lên quá lớn.", "The request is too large."},
	"error.unsupported_media_type":   {"Kiểu dữ liệu không được hỗ trợ.", "Unsupported content type."},
	"error.bad_parameter":            {"Tham số không hợp lệ.", "A parameter is not valid."},
	"error.bad_cursor":               {"Con trỏ sự kiện không hợp lệ.", "The event cursor is not valid."},
	"error.unauthenticated":          {"Cần đăng nhập.", "Please log in."},
	"error.forbidden":                {"Vai trò của bạn không được phép làm việc này.", "Your role may not do this."},
	"error.csrf":                     {"Trang đã cũ hoặc yêu cầu không đến từ bảng điều khiển. Hãy tải lại trang.", "The page is out of date or the request did not come from the panel. Reload the page."},
	"error.not_found":                {"Không tìm thấy.", "Not found."},
	"error.no_such_reader":           {"Không có đầu đọc này.", "No such reader."},
	"error.conflict":                 {"Mã hồ sơ đã dùng cho nội dung khác.", "The application ID is used for other content."},
	"error.too_late":                 {"Quá muộn cho thao tác này.", "Too late for this."},
	"error.method_not_allowed":       {"Thao tác không được hỗ trợ.", "Method not allowed."},
	"error.rate_limited":             {"Quá nhiều yêu cầu. Vui lòng đợi.", "Too many requests. Please wait."},
	"error.too_many_streams":         {"Phiên này đã mở quá nhiều trang cập nhật trực tiếp. Hãy đóng bớt.", "This session has too many live views open. Close one."},
	"error.request_timeout":          {"Dữ liệu gửi lên không đến kịp.", "The request did not arrive in time."},
	"error.unavailable":              {"Tạm thời không phục vụ được.", "Temporarily unavailable."},
	"error.internal":                 {"Lỗi nội bộ; xem nhật ký của trạm.", "Internal error; see the station log."},
}

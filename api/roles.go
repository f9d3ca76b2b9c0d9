package api

// Role of a principal: central (the card management system, by pinned
// certificate or token) or one of the panel roles (local accounts, or tokens
// for API scripts).
type Role string

const (
	RoleCentral    Role = "central"
	RoleOperator   Role = "operator"   // the production floor: readers, spoiled cards
	RoleTechnician Role = "technician" // everything on the station
	RoleAuditor    Role = "auditor"    // the audit log
	RoleAdmin      Role = "admin"      // everything, and accounts
)

// Roles lists every role, in the order the panel shows them.
var Roles = []Role{RoleCentral, RoleOperator, RoleTechnician, RoleAuditor, RoleAdmin}

// PanelRoles are the roles a panel account may have.
var PanelRoles = []Role{RoleOperator, RoleTechnician, RoleAuditor, RoleAdmin}

func (r Role) valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.valid() {
		return r, nil
	}
	return "", ErrBadRole
}

// Permission is something a role may do. The table below is the whole
// policy: handlers ask Can, nothing else decides.
type Permission string

const (
	PermIntake       Permission = "intake"        // POST applications
	PermStatus       Permission = "status"        // read an application's status (no personal data)
	PermCancel       Permission = "cancel"        // cancel an application
	PermEvents       Permission = "events"        // read and acknowledge the change feed (acknowledging lets the station purge)
	PermView         Permission = "view"          // panel: overview, applications (masked), spoiled cards, configuration
	PermPersonalData Permission = "personal_data" // see personal data unmasked (each view audited)
	PermReaders      Permission = "readers"       // pause and resume readers
	PermDestroyed    Permission = "destroyed"     // acknowledge that a spoiled card was destroyed
	PermRetry        Permission = "retry"         // retry an application that needs attention
	PermDrain        Permission = "drain"         // drain the station before maintenance, and undo
	PermAudit        Permission = "audit"         // read the audit log and verify its chain
	PermUsers        Permission = "users"         // manage panel accounts
)

// permissions: who may do what (README "Roles").
var permissions = map[Permission][]Role{
	PermIntake:       {RoleCentral},
	PermStatus:       {RoleCentral, RoleOperator, RoleTechnician, RoleAuditor, RoleAdmin},
	PermCancel:       {RoleCentral, RoleTechnician, RoleAdmin},
	PermEvents:       {RoleCentral},
	PermView:         {RoleOperator, RoleTechnician, RoleAuditor, RoleAdmin},
	PermPersonalData: {RoleTechnician, RoleAdmin},
	PermReaders:      {RoleOperator, RoleTechnician, RoleAdmin},
	PermDestroyed:    {RoleOperator, RoleTechnician, RoleAdmin},
	PermRetry:        {RoleTechnician, RoleAdmin},
	PermDrain:        {RoleTechnician, RoleAdmin},
	PermAudit:        {RoleAuditor, RoleTechnician, RoleAdmin},
	PermUsers:        {RoleAdmin},
}

// Can reports whether a role has a permission.
func (r Role) Can(p Permission) bool {
	for _, v := range permissions[p] {
		if v == r {
			return true
		}
	}
	return false
}

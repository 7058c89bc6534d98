package store

import "fmt"

// Error is a coded policy-store error. The shell prints Error() as is; third
// party tools match the five-digit code, so codes are stable across releases.
//
// Every operation of this package that fails returns a *Error (possibly
// wrapped by errors.Join for batch replays). errors.Is(err, ErrX) matches on
// the code alone, so the sentinels below work whatever the message text.
type Error struct {
	Code int
	Msg  string

	cause error // underlying OS, bbolt or JSON error, if any
}

func (e *Error) Error() string { return fmt.Sprintf("ERR IPsec[%05d] : %s", e.Code, e.Msg) }

// Is reports whether target is a *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the underlying cause (nil for pure policy errors).
func (e *Error) Unwrap() error { return e.cause }

// Error codes. The numbers marked "ref" are the ones netsh is known to print
// (reference §6.2); the ones marked "ours" are private allocations in the
// 05000-05099 range that avoid every known code and may be corrected when the
// real numbers are found. The message of each code lives in table below.
const (
	CodePolicyExists       = 5005 // ref
	CodeFilterListExists   = 5010 // ref
	CodeFilterActionExists = 5014 // ref
	CodeRuleExists         = 5020 // ref
	CodeFilterListNotFound = 5049 // ref
	CodeNoFilterLists      = 5067 // ref
	CodeNoFilterActions    = 5068 // ref
	CodeNoPolicies         = 5072 // ref
	CodeStoreOpen          = 5073 // ref

	CodePolicyNotFound       = 5080 // ours
	CodeFilterActionNotFound = 5081 // ours
	CodeRuleNotFound         = 5082 // ours
	CodeRuleIDNotFound       = 5083 // ours
	CodeFilterListInUse      = 5084 // ours
	CodeFilterActionInUse    = 5085 // ours
	CodeDefaultRule          = 5086 // ours
	CodeNoMatchingFilter     = 5087 // ours
	CodeGUIDNotFound         = 5088 // ours
	CodeDomainStore          = 5089 // ours
	CodeBusy                 = 5090 // ours
	CodeStoreWrite           = 5091 // ours
	CodeExportFile           = 5092 // ours
	CodeImportFile           = 5093 // ours
	CodeInvalidImport        = 5094 // ours
	CodeInvalid              = 5095 // ours
)

// Origin says where a code comes from.
type Origin uint8

// Origins of error codes.
const (
	FromReference Origin = iota + 1 // observed netsh code (reference §6.2)
	Private                         // allocated by this project
)

func (o Origin) String() string {
	switch o {
	case FromReference:
		return "reference"
	case Private:
		return "private"
	}
	return fmt.Sprintf("Origin(%d)", uint8(o))
}

// Message is one row of the code table.
type Message struct {
	Code   int
	Format string // fmt format; the verbs are filled by the constructors
	Origin Origin
}

// table is the single list of codes and texts. Texts of reference codes are
// the reference's suggested English; the verbs (%s, %d) take the names listed
// in each comment.
var table = [...]Message{
	{CodePolicyExists, `Policy with name "%s" already exists.`, FromReference},                                        // policy
	{CodeFilterListExists, `Filter List with name "%s" already exists.`, FromReference},                               // list
	{CodeFilterActionExists, `Filter Action with name "%s" already exists.`, FromReference},                           // action
	{CodeRuleExists, `Rule with name "%s" already exists in policy "%s".`, FromReference},                             // rule, policy
	{CodeFilterListNotFound, `Filter List with name "%s" does not exist.`, FromReference},                             // list
	{CodeNoFilterLists, `No Filter Lists in Policy Store.`, FromReference},                                            // -
	{CodeNoFilterActions, `No Filter Actions in Policy Store.`, FromReference},                                        // -
	{CodeNoPolicies, `No Policies in Policy Store.`, FromReference},                                                   // -
	{CodeStoreOpen, `Local policy store could not be opened.`, FromReference},                                         // reason appended
	{CodePolicyNotFound, `Policy with name "%s" does not exist.`, Private},                                            // policy
	{CodeFilterActionNotFound, `Filter Action with name "%s" does not exist.`, Private},                               // action
	{CodeRuleNotFound, `Rule with name "%s" does not exist in policy "%s".`, Private},                                 // rule, policy
	{CodeRuleIDNotFound, `Rule with ID %d does not exist in policy "%s".`, Private},                                   // id, policy
	{CodeFilterListInUse, `Filter List "%s" is used by rule "%s" in policy "%s" and cannot be deleted.`, Private},     // list, rule, policy
	{CodeFilterActionInUse, `Filter Action "%s" is used by rule "%s" in policy "%s" and cannot be deleted.`, Private}, // action, rule, policy
	{CodeDefaultRule, `The default response rule of policy "%s" cannot be deleted.`, Private},                         // policy
	{CodeNoMatchingFilter, `No filter in Filter List "%s" matches the given specification.`, Private},                 // list
	{CodeGUIDNotFound, `%s with GUID "%s" does not exist.`, Private},                                                  // kind, guid
	{CodeDomainStore, `The domain policy store is not configured.`, Private},                                          // -
	{CodeBusy, `The policy store is locked by another process. Try again later.`, Private},                            // -
	{CodeStoreWrite, `The policy store could not be written.`, Private},                                               // reason appended
	{CodeExportFile, `The policy file could not be written.`, Private},                                                // reason appended
	{CodeImportFile, `The policy file could not be read.`, Private},                                                   // reason appended
	{CodeInvalidImport, `The policy file is not a valid gonetsh policy file: %s.`, Private},                           // reason
	{CodeInvalid, `Invalid %s: %s.`, Private},                                                                         // what, why
}

// Codes returns a copy of the code table, in code order, for documentation
// and for tests of other packages.
func Codes() []Message { return append([]Message(nil), table[:]...) }

// Sentinels for errors.Is; they compare by code only.
var (
	ErrPolicyExists         = sentinel(CodePolicyExists)
	ErrFilterListExists     = sentinel(CodeFilterListExists)
	ErrFilterActionExists   = sentinel(CodeFilterActionExists)
	ErrRuleExists           = sentinel(CodeRuleExists)
	ErrFilterListNotFound   = sentinel(CodeFilterListNotFound)
	ErrNoFilterLists        = sentinel(CodeNoFilterLists)
	ErrNoFilterActions      = sentinel(CodeNoFilterActions)
	ErrNoPolicies           = sentinel(CodeNoPolicies)
	ErrStoreOpen            = sentinel(CodeStoreOpen)
	ErrPolicyNotFound       = sentinel(CodePolicyNotFound)
	ErrFilterActionNotFound = sentinel(CodeFilterActionNotFound)
	ErrRuleNotFound         = sentinel(CodeRuleNotFound)
	ErrRuleIDNotFound       = sentinel(CodeRuleIDNotFound)
	ErrFilterListInUse      = sentinel(CodeFilterListInUse)
	ErrFilterActionInUse    = sentinel(CodeFilterActionInUse)
	ErrDefaultRule          = sentinel(CodeDefaultRule)
	ErrNoMatchingFilter     = sentinel(CodeNoMatchingFilter)
	ErrGUIDNotFound         = sentinel(CodeGUIDNotFound)
	ErrDomainStore          = sentinel(CodeDomainStore)
	ErrBusy                 = sentinel(CodeBusy)
	ErrStoreWrite           = sentinel(CodeStoreWrite)
	ErrExportFile           = sentinel(CodeExportFile)
	ErrImportFile           = sentinel(CodeImportFile)
	ErrInvalidImport        = sentinel(CodeInvalidImport)
	ErrInvalid              = sentinel(CodeInvalid)
)

func sentinel(code int) *Error { return &Error{Code: code, Msg: format(code)} }

func format(code int) string {
	for _, m := range table {
		if m.Code == code {
			return m.Format
		}
	}
	return fmt.Sprintf("unknown error %d", code)
}

// NewError builds the error of code with the table's text filled from args.
// The shell uses it for the codes it raises itself (05067, 05068, 05072 on an
// empty `show ... all`, 05092/05093 when the file cannot be opened).
func NewError(code int, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format(code), args...)}
}

// WithCause is NewError with the cause's text appended in parentheses and
// kept for errors.Unwrap.
func WithCause(code int, cause error, args ...any) *Error {
	e := NewError(code, args...)
	if cause != nil {
		e.Msg += " (" + cause.Error() + ")"
		e.cause = cause
	}
	return e
}

// Object kinds used in CodeGUIDNotFound messages.
const (
	kindPolicy       = "Policy"
	kindFilterList   = "Filter List"
	kindFilterAction = "Filter Action"
	kindRule         = "Rule"
)

func invalid(what, why string) error { return NewError(CodeInvalid, what, why) }

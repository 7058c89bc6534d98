package store

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{NewError(CodePolicyExists, "P1"), `ERR IPsec[05005] : Policy with name "P1" already exists.`},
		{NewError(CodeRuleExists, "R", "P"), `ERR IPsec[05020] : Rule with name "R" already exists in policy "P".`},
		{NewError(CodeFilterListNotFound, "L"), `ERR IPsec[05049] : Filter List with name "L" does not exist.`},
		{NewError(CodeNoPolicies), `ERR IPsec[05072] : No Policies in Policy Store.`},
		{NewError(CodeRuleIDNotFound, 7, "P"), `ERR IPsec[05083] : Rule with ID 7 does not exist in policy "P".`},
		{NewError(CodeDomainStore), `ERR IPsec[05089] : The domain policy store is not configured.`},
		{WithCause(CodeStoreOpen, fs.ErrPermission), `ERR IPsec[05073] : Local policy store could not be opened. (permission denied)`},
		{NewError(CodeFilterListInUse, "L", "R", "P"), `ERR IPsec[05084] : Filter List "L" is used by rule "R" in policy "P" and cannot be deleted.`},
	} {
		require.Equal(t, tc.want, tc.err.Error())
	}
}

func TestErrorIsAs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", NewError(CodePolicyNotFound, "x"))
	require.ErrorIs(t, err, ErrPolicyNotFound)
	require.NotErrorIs(t, err, ErrPolicyExists)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, CodePolicyNotFound, e.Code)

	c := WithCause(CodeStoreOpen, fs.ErrPermission)
	require.ErrorIs(t, c, fs.ErrPermission)
	require.ErrorIs(t, c, ErrStoreOpen)

	joined := errors.Join(NewError(CodeFilterListExists, "a"), NewError(CodeBusy))
	require.ErrorIs(t, joined, ErrBusy)
	require.ErrorIs(t, joined, ErrFilterListExists)
}

func TestCodeTable(t *testing.T) {
	reference := map[int]bool{5005: true, 5010: true, 5014: true, 5020: true, 5049: true,
		5067: true, 5068: true, 5072: true, 5073: true}
	sentinels := []*Error{ErrPolicyExists, ErrFilterListExists, ErrFilterActionExists, ErrRuleExists,
		ErrFilterListNotFound, ErrNoFilterLists, ErrNoFilterActions, ErrNoPolicies, ErrStoreOpen,
		ErrPolicyNotFound, ErrFilterActionNotFound, ErrRuleNotFound, ErrRuleIDNotFound,
		ErrFilterListInUse, ErrFilterActionInUse, ErrDefaultRule, ErrNoMatchingFilter,
		ErrGUIDNotFound, ErrDomainStore, ErrBusy, ErrStoreWrite, ErrExportFile, ErrImportFile,
		ErrInvalidImport, ErrInvalid}

	codes := Codes()
	require.Len(t, codes, len(sentinels), "one sentinel per code")
	seen := map[int]bool{}
	for i, m := range codes {
		require.False(t, seen[m.Code], "code %05d twice", m.Code)
		seen[m.Code] = true
		require.True(t, m.Code >= 5000 && m.Code <= 5099, "code %05d out of range", m.Code)
		require.Equal(t, reference[m.Code], m.Origin == FromReference, "origin of %05d", m.Code)
		require.NotEmpty(t, m.Format)
		require.Equal(t, m.Code, sentinels[i].Code, "sentinel order")
		if i > 0 {
			require.Greater(t, m.Code, codes[i-1].Code, "table in code order")
		}
	}
	for c := range reference {
		require.True(t, seen[c], "reference code %05d missing", c)
	}
}

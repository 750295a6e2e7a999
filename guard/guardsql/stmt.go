package guardsql

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
)

// stmt is a guarded prepared statement.
type stmt struct {
	inner driver.Stmt
	c     *conn
}

func (s *stmt) Close() error {
	var err error
	gerr := s.c.call(context.Background(), func() { err = s.inner.Close() })
	if s.c.poisoned.Load() {
		s.c.retain(s.inner)
		return nil
	}
	if gerr != nil {
		return gerr
	}
	return err
}

// NumInput is -1 (database/sql then does not check the argument count)
// when the guarded call fails.
func (s *stmt) NumInput() int {
	n := -1
	if s.c.call(context.Background(), func() { n = s.inner.NumInput() }) != nil {
		return -1
	}
	return n
}

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	var r driver.Result
	var err error
	var gerr error
	if sc, ok := s.inner.(driver.StmtExecContext); ok && named(args) {
		gerr = s.c.call(ctx, func() { r, err = sc.ExecContext(noCancel(ctx), args) })
	} else {
		vals, verr := values(args)
		if verr != nil {
			return nil, verr
		}
		gerr = s.c.call(ctx, func() { r, err = s.inner.Exec(vals) }) //nolint:staticcheck // context-free on purpose
	}
	if gerr != nil {
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	return &result{inner: r, c: s.c}, nil
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	var rs driver.Rows
	var err error
	var gerr error
	var f fetch
	if s.c.first && !s.c.rows1Busy {
		f.into = &s.c.rows1
	}
	if sc, ok := s.inner.(driver.StmtQueryContext); ok && named(args) {
		gerr = s.c.call(ctx, func() { rs, err = sc.QueryContext(noCancel(ctx), args); f.read(rs, err) })
	} else {
		vals, verr := values(args)
		if verr != nil {
			return nil, verr
		}
		gerr = s.c.call(ctx, func() { rs, err = s.inner.Query(vals); f.read(rs, err) }) //nolint:staticcheck // context-free on purpose
	}
	if gerr == nil && err == nil {
		return s.c.newRows(rs, &f, ctx), nil
	}
	return s.c.queried(ctx, rs, err, gerr, &f)
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if nvc, ok := s.inner.(driver.NamedValueChecker); ok {
		return nvc.CheckNamedValue(nv)
	}
	return s.c.CheckNamedValue(nv)
}

func namedValues(args []driver.Value) []driver.NamedValue {
	if len(args) == 0 {
		return nil
	}
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// rows are guarded rows: each Next with the query's context. The column
// names come with the query, and so does the first row of rows1 (fetch).
type rows struct {
	inner driver.Rows
	cols  []string // read with the query (fetch)
	c     *conn
	ctx   context.Context
	err   error // a guard error of Columns or of the first row's fetch, returned by the next Next

	pre      bool           // the first row was read with the query: first, firstErr
	first    []driver.Value // rows1's, kept for the connection's next query
	firstErr error
}

// dropFirst forgets the first row read with the query. (Loops, not copy
// and clear: a row is a few values.)
func (r *rows) dropFirst() {
	r.pre = false
	for i := 0; i < len(r.first); i++ {
		r.first[i] = nil
	}
	r.firstErr = nil
}

func (r *rows) Columns() []string {
	if r.cols != nil {
		return r.cols
	}
	var cols []string
	if gerr := r.c.call(r.ctx, func() { cols = r.inner.Columns() }); gerr != nil {
		r.err = gerr
		return nil
	}
	return cols
}

func (r *rows) Next(dest []driver.Value) error {
	if r.err != nil {
		return r.err
	}
	if r.pre {
		for i := 0; i < len(r.first) && i < len(dest); i++ {
			dest[i] = r.first[i]
		}
		r.pre = false // the values go at Close (dropFirst)
		return r.firstErr
	}
	var err error
	if gerr := r.c.call(r.ctx, func() { err = r.inner.Next(dest) }); gerr != nil {
		return gerr
	}
	return err
}

// Close runs even when the query's context is done (database/sql closes
// the rows of a cancelled query from a goroutine of its own): with the
// context's values, and the configured timeout.
func (r *rows) Close() error {
	var err error
	gerr := r.c.call(r.c.noCancel(r.ctx), func() { err = r.inner.Close() })
	if r.c.poisoned.Load() {
		r.c.retain(r.inner)
		err, gerr = nil, nil
	}
	if r == &r.c.rows1 {
		r.inner, r.cols, r.ctx = nil, nil, nil
		r.dropFirst()
		r.c.rows1Busy = false
	}
	if gerr != nil {
		return gerr
	}
	return err
}

// value runs f, which reads a property of the driver's rows, under the
// guard; on a guard error it returns zero and the next Next returns the
// error.
func value[T any](r *rows, f func() T, zero T) T {
	v := zero
	if gerr := r.c.call(r.ctx, func() { v = f() }); gerr != nil {
		if r.err == nil {
			r.err = gerr
		}
		return zero
	}
	return v
}

func (r *rows) HasNextResultSet() bool {
	rs, ok := r.inner.(driver.RowsNextResultSet)
	return ok && value(r, rs.HasNextResultSet, false)
}

func (r *rows) NextResultSet() error {
	rs, ok := r.inner.(driver.RowsNextResultSet)
	if !ok {
		return io.EOF
	}
	r.cols = nil // the next result set has columns of its own
	r.dropFirst()
	var err error
	if gerr := r.c.call(r.ctx, func() { err = rs.NextResultSet() }); gerr != nil {
		return gerr
	}
	return err
}

var anyType = reflect.TypeFor[any]()

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	ct, ok := r.inner.(driver.RowsColumnTypeScanType)
	if !ok {
		return anyType
	}
	if t := value(r, func() reflect.Type { return ct.ColumnTypeScanType(i) }, nil); t != nil {
		return t
	}
	return anyType
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	ct, ok := r.inner.(driver.RowsColumnTypeDatabaseTypeName)
	if !ok {
		return ""
	}
	return value(r, func() string { return ct.ColumnTypeDatabaseTypeName(i) }, "")
}

type lengthOK struct {
	n  int64
	ok bool
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	ct, ok := r.inner.(driver.RowsColumnTypeLength)
	if !ok {
		return 0, false
	}
	v := value(r, func() lengthOK { n, ok := ct.ColumnTypeLength(i); return lengthOK{n, ok} }, lengthOK{})
	return v.n, v.ok
}

func (r *rows) ColumnTypeNullable(i int) (bool, bool) {
	ct, ok := r.inner.(driver.RowsColumnTypeNullable)
	if !ok {
		return false, false
	}
	v := value(r, func() [2]bool { n, ok := ct.ColumnTypeNullable(i); return [2]bool{n, ok} }, [2]bool{})
	return v[0], v[1]
}

type precisionScale struct {
	p, s int64
	ok   bool
}

func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	ct, ok := r.inner.(driver.RowsColumnTypePrecisionScale)
	if !ok {
		return 0, 0, false
	}
	v := value(r, func() precisionScale { p, s, ok := ct.ColumnTypePrecisionScale(i); return precisionScale{p, s, ok} }, precisionScale{})
	return v.p, v.s, v.ok
}

// tx is a guarded transaction: Commit with the context of BeginTx,
// Rollback even when that context is done (database/sql rolls back a
// transaction whose context is cancelled, from a goroutine of its own).
type tx struct {
	inner driver.Tx
	c     *conn
	ctx   context.Context
}

func (t *tx) Commit() error {
	var err error
	if gerr := t.c.call(t.ctx, func() { err = t.inner.Commit() }); gerr != nil {
		return gerr
	}
	return err
}

func (t *tx) Rollback() error {
	var err error
	if gerr := t.c.call(t.c.noCancel(t.ctx), func() { err = t.inner.Rollback() }); gerr != nil {
		return gerr
	}
	return err
}

// result is a guarded driver.Result.
type result struct {
	inner driver.Result
	c     *conn
}

func (r *result) LastInsertId() (int64, error) {
	var n int64
	var err error
	if gerr := r.c.call(context.Background(), func() { n, err = r.inner.LastInsertId() }); gerr != nil {
		return 0, gerr
	}
	return n, err
}

func (r *result) RowsAffected() (int64, error) {
	var n int64
	var err error
	if gerr := r.c.call(context.Background(), func() { n, err = r.inner.RowsAffected() }); gerr != nil {
		return 0, gerr
	}
	return n, err
}

var (
	_ driver.Stmt                           = (*stmt)(nil)
	_ driver.StmtExecContext                = (*stmt)(nil)
	_ driver.StmtQueryContext               = (*stmt)(nil)
	_ driver.NamedValueChecker              = (*stmt)(nil)
	_ driver.RowsNextResultSet              = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
	_ driver.Tx                             = (*tx)(nil)
	_ driver.Result                         = (*result)(nil)
)

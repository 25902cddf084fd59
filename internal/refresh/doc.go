// Package refresh is the one background refresh loop of tokenbroker: the
// CRL set, the file reloader and the Vault PKI trust anchors each load once
// in their constructor (which fails if that load fails) and then hand the
// reload to Every, which calls it at a fixed interval until the owner's
// Close stops it.
//
//	func New(ctx context.Context, every time.Duration) (*Roots, error) {
//		r := &Roots{}
//		if err := r.load(ctx); err != nil {
//			return nil, err
//		}
//		r.loop = refresh.Every(context.WithoutCancel(ctx), every, func(ctx context.Context) {
//			if err := r.load(ctx); err != nil {
//				log.Warn("refresh failed; keeping the last good value", "err", err)
//			}
//		})
//		return r, nil
//	}
//
//	func (r *Roots) Close() error { r.loop.Stop(); return nil } // safe twice
package refresh

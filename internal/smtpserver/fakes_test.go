package smtpserver

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
)

// fakeStore is an in-memory directory and deliverer over a real blob.FS.
// It backs the tests that do not need the SQL store (see store_test.go for
// the same scenarios on sqlstore).
type fakeStore struct {
	blobs *blob.FS

	mu         sync.Mutex
	domains    map[string]bool
	accounts   map[string]store.Account
	passwords  map[string]string // address → hash
	aliases    map[string][]string
	deliveries []*store.Delivery
	deliverErr error
	panicFor   int64 // Deliver panics when a local recipient has this account ID
	nextQueue  int64
}

func newFakeStore(blobs *blob.FS) *fakeStore {
	return &fakeStore{
		blobs:     blobs,
		domains:   map[string]bool{},
		accounts:  map[string]store.Account{},
		passwords: map[string]string{},
		aliases:   map[string][]string{},
	}
}

func (f *fakeStore) addAccount(addr, hash string) store.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := store.Account{ID: int64(len(f.accounts) + 1), Address: addr, Domain: addr[strings.IndexByte(addr, '@')+1:]}
	f.accounts[addr] = a
	f.passwords[addr] = hash
	return a
}

func (f *fakeStore) setAccount(a store.Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[a.Address] = a
}

func (f *fakeStore) HasDomain(ctx context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.domains[strings.ToLower(name)], nil
}

func (f *fakeStore) Account(ctx context.Context, address string) (store.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[strings.ToLower(address)]
	if !ok {
		return store.Account{}, fmt.Errorf("account %q: %w", address, store.ErrNotFound)
	}
	return a, nil
}

func (f *fakeStore) AliasTargets(ctx context.Context, address string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.aliases[strings.ToLower(address)], nil
}

// Credentials implements auth.CredentialStore.
func (f *fakeStore) Credentials(ctx context.Context, username string) (auth.Credentials, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[strings.ToLower(username)]
	if !ok {
		return auth.Credentials{}, false, nil
	}
	return auth.Credentials{AccountID: a.ID, Address: a.Address, PasswordHash: f.passwords[a.Address], Disabled: a.Disabled}, true, nil
}

func (f *fakeStore) Deliver(ctx context.Context, d *store.Delivery) (store.DeliveryResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range d.Local {
		if f.panicFor != 0 && l.AccountID == f.panicFor {
			panic("test panic in Deliver")
		}
	}
	if f.deliverErr != nil {
		return store.DeliveryResult{}, f.deliverErr
	}
	if _, err := f.blobs.Open(ctx, d.Blob.Hash); err != nil {
		return store.DeliveryResult{}, fmt.Errorf("blob not durable: %w", err)
	}
	f.deliveries = append(f.deliveries, d)
	var res store.DeliveryResult
	for _, l := range d.Local {
		res.Local = append(res.Local, store.Appended{AccountID: l.AccountID, MailboxID: l.AccountID, UID: uint32(len(f.deliveries))})
	}
	if d.Remote != nil {
		f.nextQueue++
		res.QueueIDs = append(res.QueueIDs, f.nextQueue)
	}
	return res, nil
}

// delivered returns a copy of the recorded deliveries.
func (f *fakeStore) delivered() []*store.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*store.Delivery(nil), f.deliveries...)
}

// content returns what a local recipient reads: prefix plus blob.
func (f *fakeStore) content(d *store.Delivery, l store.LocalDelivery) string {
	r, err := f.blobs.Open(context.Background(), d.Blob.Hash)
	if err != nil {
		return "ERROR: " + err.Error()
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(l.Prefix) + string(b)
}

// blobContent returns the blob of a delivery.
func (f *fakeStore) blobContent(d *store.Delivery) string {
	r, err := f.blobs.Open(context.Background(), d.Blob.Hash)
	if err != nil {
		return "ERROR: " + err.Error()
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

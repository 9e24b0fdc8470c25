// `#credential-tag` in the edge bundles (package.json "imports": workerd, worker, browser, edge-light): the
// credential's fingerprint is its tag, as SipHash (`./tag.ts`, everywhere else) would add about 800 B gzipped to
// the smallest Worker. Both keep every raw credential out of the cache and let nobody pick two credentials that
// share an entry.
export { fingerprint as credentialTag } from './header.js'

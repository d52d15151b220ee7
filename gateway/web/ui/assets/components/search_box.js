// The header's search box (index.html holds its form, so it is there before any script
// runs and nothing moves when the UI starts). What is typed decides where it goes: a
// digest (full or 12+ hex digits), label:…, tag:…, pkg:…, package:… or digest:… goes to
// the search page (/search?q=); anything else is a repository name, filtered on the
// repositories page (/?q=), as its own filter box does.

const PREFIXES = /^(label|tag|pkg|package|digest):/i;
const HEX = /^(sha256:)?[0-9a-f]{12,64}$/i;

/** Whether the search box's text is a search of the index rather than a name filter. */
export function isIndexSearch(text) {
  return PREFIXES.test(text) || HEX.test(text);
}

export function headerSearch({link, navigate}) {
  const form = document.getElementById('header-search');
  const input = document.getElementById('header-search-input');
  form?.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    navigate(isIndexSearch(q) ? link.search({q}) : link.repositories({q}));
  });
  return {
    /** Show what the page searched (the search page's q), and nothing elsewhere. */
    sync(route) {
      if (!input || document.activeElement === input) return;
      input.value = route.view === 'search' ? route.query.get('q') ?? '' : '';
    },
  };
}

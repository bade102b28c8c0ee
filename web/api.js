// The REST API, called with the token kept in this tab's sessionStorage.
const KEY = 'weft.token';

export const token = () => sessionStorage.getItem(KEY);
export const setToken = (t) => sessionStorage.setItem(KEY, t);
export const clearToken = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthenticated = () => {};
// Called when the server refuses the token (revoked, wrong, server state reset).
export function onUnauthenticated(callback) { unauthenticated = callback; }

// fetch() with the bearer token; the parsed JSON, or the Response itself when raw.
export async function api(path, { method = 'GET', body, raw = false, tokenOverride } = {}) {
  const headers = { Authorization: `Bearer ${tokenOverride ?? token() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch { /* not JSON */ }
    if (response.status === 401 && !tokenOverride) unauthenticated();
    throw new ApiError(response.status, message);
  }
  return raw ? response : response.json();
}

export const cancelJob = (id) => api(`/v1/jobs/${id}/cancel`, { method: 'POST' });

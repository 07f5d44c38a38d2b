import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerToken, tokensEqual } from '@hal/observability';

test('bearer token - tokensEqual is true only for the same token, whatever the lengths', () => {
  assert.equal(tokensEqual('s3cret-token', 's3cret-token'), true);
  assert.equal(tokensEqual('s3cret-tokeN', 's3cret-token'), false);
  assert.equal(tokensEqual('s3cret', 's3cret-token'), false);
  assert.equal(tokensEqual('s3cret-token-and-more', 's3cret-token'), false);
  assert.equal(tokensEqual('', 's3cret-token'), false);
});

test('bearer token - the scheme is case-insensitive, the token is not; anything else is no token', () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER   abc  ', 'abc'],
    ['Bearer ABC', 'ABC'],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    ['Basic abc', undefined],
    ['abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [header, token] of cases) assert.equal(bearerToken(header), token, String(header));
});

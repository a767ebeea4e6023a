/* SPDX-License-Identifier: Apache-2.0 */
#include "helpers.h"

#include "ctl_fixture.h"

int main(void)
{
	return 0;
}

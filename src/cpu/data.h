/* SPDX-License-Identifier: Apache-2.0 */
/* Data files built into the binary by tools/embed.py (see meson.build). */
#ifndef GODWIT_CPU_DATA_H
#define GODWIT_CPU_DATA_H
#include <stddef.h>
extern const char gw_data_features[];
extern const size_t gw_data_features_len;
extern const char gw_data_qemu_models[];
extern const size_t gw_data_qemu_models_len;
extern const char gw_data_libvirt_models[];
extern const size_t gw_data_libvirt_models_len;
#endif
